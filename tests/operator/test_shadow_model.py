"""The shadow panel's Qt-free model (issue 10 item 4): the comparison in plain numbers from a real station's
ShadowControl (demo bundle in production and, at a lower threshold, as the candidate), the latest
disagreements read back from the real DisagreementStore files, run-time loading of a candidate."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import DEMO, record

from inspector.live.config import ShadowSettings, StorageSettings
from inspector.live.shadow import DisagreementStore, ShadowOutcome
from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.shadow import RecentRows, ShadowActions, ShadowView, outcome_text
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation

pytestmark = pytest.mark.timeout(120)


def test_recent_rows_pairs_the_newest_disagreements_of_the_running_candidate(tmp_path: Path) -> None:
    store = DisagreementStore(tmp_path / "shadow")
    for frame in range(1, 8):
        production = record(0.5, frame_id=frame)  # OK at threshold 1
        candidate = replace(record(2.0, frame_id=frame).result, model_fingerprint="b" * 64 if frame < 6 else "c" * 64)
        store.add(production, candidate)
    recent = RecentRows(tmp_path / "shadow")
    newest = recent.latest(3)
    assert [d.frame_id for d in newest] == [7, 6, 5]
    assert newest[0].production == "OK" and newest[0].candidate == "NG"
    assert newest[0].production_score == pytest.approx(0.5) and newest[0].candidate_score == pytest.approx(2.0)
    assert newest[0].image is not None and newest[0].image.is_file()
    when = time.strftime("%H:%M:%S", time.localtime(newest[0].time))
    assert newest[0].text() == f"cam1 #7 at {when}\nproduction OK 0.5 \u2192 candidate NG 2"
    assert [d.frame_id for d in recent.latest(3, "b" * 64)] == [5, 4, 3]  # only the candidate running now
    assert recent.latest(3, "b" * 64, threshold=1.0)[0].frame_id == 5
    assert recent.latest(3, "b" * 64, threshold=0.5) == ()  # the same bundle at another threshold
    assert RecentRows(tmp_path / "nothing").latest(4) == ()


def test_recent_rows_reads_only_the_tail_of_a_long_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.operator.shadow as shadow

    store = DisagreementStore(tmp_path)
    for frame in range(1, 41):
        store.add(record(0.5, frame_id=frame), record(2.0, frame_id=frame).result)
    monkeypatch.setattr(shadow, "TAIL_BYTES", 2000)  # a few rows: the first, cut one is skipped
    rows = RecentRows(tmp_path).latest(100)
    assert 0 < len(rows) < 40 and rows[0].frame_id == 40
    assert [d.frame_id for d in rows] == list(range(40, 40 - len(rows), -1))


def test_view_lines_name_each_count_and_the_agreement() -> None:
    view = ShadowView("cand.onnx", "a" * 64, offered=30, compared=20, agree=15, skipped=8, errors=0,
                      disagree={"OK->NG": 3, "NG->OK": 1, "OK->UNSURE": 1})  # fmt: skip
    lines = dict(view.lines())
    assert view.agreement == pytest.approx(75.0) and lines["agreement"] == "75.0 %"
    assert lines["frames compared"] == "20" and lines["skipped (candidate busy)"] == "8"
    assert lines["production OK, candidate NG"] == "3" and lines["production NG, candidate OK"] == "1"
    assert lines["other (UNSURE on one side)"] == "1" and "candidate errors" not in lines
    assert ShadowView("c.onnx", "", 0, 0, 0, 0, 0).agreement is None
    assert "PRODUCTION" in ShadowView("c.onnx", "", 0, 0, 0, 0, 0, promoted=True).headline()
    refused = ShadowOutcome(
        "promote", False, "the candidate fails the golden self-test failed: a.png expected OK got NG", "m"
    )
    assert outcome_text(refused) == (
        "Promote refused: the candidate fails the golden self-test: a.png expected OK got NG. "
        "Production keeps running unchanged."
    )
    assert outcome_text(ShadowOutcome("rollback", True, "previous bundle back in production", "m")).startswith(
        "Rollback:"
    )


def test_the_view_follows_the_stations_shadow_snapshot_and_a_candidate_loads_at_run_time(tmp_path: Path) -> None:
    config = single_camera_config(DEMO, [source_camera("synthetic", fps=8.0)], station="test-line")
    config = config.model_copy(
        update={"storage": StorageSettings(data_dir=tmp_path), "shadow": ShadowSettings(model=DEMO, threshold=1.0)}
    )  # threshold 1: the candidate calls every part NG
    live = LiveStation(config, config_sinks=False, disk_paths=[])
    actions = ShadowActions(live)
    assert actions.configured and actions.view() is None  # not started yet
    try:
        live.start().result(60)
        assert live.phase is Phase.RUNNING, live.error
        control = live.station.shadow
        end = time.monotonic() + 60
        while control.worker.snapshot().disagree.get("OK->NG", 0) < 6 and time.monotonic() < end:
            time.sleep(0.1)
        control.worker.stop()  # the counts hold still from here
        snap = control.worker.snapshot()
        view = actions.view()
        assert view is not None and view.candidate == "demo.onnx" and view.fingerprint == snap.model_fingerprint
        assert (view.compared, view.agree, view.skipped, view.errors) == (
            snap.compared,
            snap.agree,
            snap.skipped,
            snap.errors,
        )
        assert view.count("OK", "NG") == snap.disagree["OK->NG"] >= 6
        assert view.recent and all(d.candidate == "NG" and d.image is not None for d in view.recent)
        assert len(view.recent) <= 4

        bad = tmp_path / "broken.onnx"
        bad.write_bytes(b"not a bundle")
        assert actions.load_candidate(bad, "gui:test").result(30) is False
        assert "Candidate broken.onnx refused" in live.messages[-1].text
        assert live.station.shadow.worker.engine.threshold == 1.0  # the running candidate stays
        assert actions.load_candidate(DEMO, "gui:test").result(60) is True
        reloaded = actions.view()
        assert reloaded.compared == 0 and reloaded.skipped == 0  # counts from 0
        assert control.worker.engine.threshold == pytest.approx(live.engine.threshold)  # the bundle's own
    finally:
        assert live.close()
    rows = [json.loads(line) for line in (tmp_path / "shadow" / "candidate" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == snap.stored
