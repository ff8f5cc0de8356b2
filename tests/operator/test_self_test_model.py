"""The GUI's golden self-test without Qt (issue 10 item 2): the outcome in plain words, a run on demand on the
control thread (trigger "gui"), a part added as a golden sample, and the acknowledgement with its reason.
A real station on the demo bundle, real golden files and audit trail."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes import DEMO

from inspector.audit import AuditLog
from inspector.live.config import StorageSettings
from inspector.live.golden import GoldenRun, Row
from inspector.live.record import FrameRecord
from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.self_test import SelfTestActions, run_text
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation
from inspector.synthetic import make_part
from inspector.verdict import Reason, Verdict

pytestmark = pytest.mark.timeout(120)


def test_run_text_says_what_passed_and_which_samples_changed_and_why() -> None:
    ok = Row("a.png", "OK", "OK", 10.0, 10.0, 2.87, True)
    flipped = Row("b.png", "NG", "OK", 12.5, 40.0, 2.87, False, "b.png expected NG got OK")
    moved = Row("c.png", "OK", "OK", 20.0, 10.0, 2.87, False, "c.png score 20 outside 10 +/- 2.87")
    unread = Row("d.png", "OK", "ERROR", None, 10.0, 2.87, False, "d.png cannot be read (gone)")
    passed = run_text(GoldenRun("2026-12-02T03:00:00Z", "gui", "f" * 64, 28.7, (ok,)))
    assert passed.passed is True and passed.lines == ()
    assert (
        passed.headline == "Passed: all 1 golden samples as expected (gui, 2026-12-02T03:00:00Z, model ffffffffffff)."
    )
    failed = run_text(GoldenRun("2026-12-02T03:00:00Z", "start", "f" * 64, 28.7, (ok, flipped, moved, unread), "B"))
    assert failed.passed is False
    assert failed.headline.startswith("FAILED: 3 of 4 golden samples changed (start,") and "recipe B" in failed.headline
    assert failed.lines == (
        "b.png: expected NG, got OK (score 12.5, recorded 40)",
        "c.png: score moved: score 20 outside 10 +/- 2.87 (score 20, recorded 10)",
        "d.png cannot be read (gone)",
    )
    assert run_text(None, 0).headline.startswith("No golden samples yet")
    assert run_text(None, 3).headline == "No self-test has run yet." and run_text(None).passed is None


def part_record(live: LiveStation, seed: int, frame_id: int) -> FrameRecord:
    """A synthetic part judged by the running engine, as the pipeline would hand it to the GUI."""
    image = make_part(np.random.default_rng(seed), size=(128, 128)).image
    result = live.engine.inspect([image])[0]
    return FrameRecord("test-line", "cam1", frame_id, time.time(), result, image, {"total": 5.0})


def test_run_on_demand_add_a_sample_flip_it_and_acknowledge(tmp_path: Path) -> None:
    config = single_camera_config(DEMO, [source_camera("synthetic", fps=2.0)], station="test-line")
    config = config.model_copy(update={"storage": StorageSettings(data_dir=tmp_path)})
    live = LiveStation(config, config_sinks=False, disk_paths=[])
    actions = SelfTestActions(live)
    assert actions.samples() is None and actions.text().headline == "No self-test has run yet."
    try:
        live.start().result(60)
        assert live.phase is Phase.RUNNING, live.error
        assert actions.samples() == 0 and actions.run().result(30) is None  # nothing to run yet
        assert live.messages[-1].text.startswith("No golden samples yet")

        records = [part_record(live, seed, i) for i, seed in enumerate((3, 4, 5))]
        for rec in records:
            assert actions.add_sample(rec).result(30) is not None, live.messages[-1].text
        assert actions.samples() == 3
        assert "Golden sample cam1_000002.png added" in live.messages[-1].text
        run = actions.run().result(30)
        assert run is not None and run.passed and run.trigger == "gui" and not actions.running
        assert actions.text().passed is True and actions.text().headline.startswith("Passed: all 3 golden samples")
        live.poll()
        assert live.phase is Phase.RUNNING and not actions.blocked

        unsure = replace(records[0].result, verdict=Verdict.UNSURE, reason=Reason.DARK, reason_detail="dark")
        rec = FrameRecord("test-line", "cam1", 9, time.time(), unsure, records[0].image, {})
        assert actions.add_sample(rec).result(30) is None
        assert (
            live.messages[-1].text == "Not added as a golden sample: a golden sample is OK or NG, this part is UNSURE."
        )
        no_image = FrameRecord("test-line", "cam1", 9, time.time(), records[0].result, None, {})
        assert actions.add_sample(no_image).result(30) is None
        assert live.messages[-1].text.endswith("the part's image was not kept.")
        assert actions.samples() == 3

        manifest = tmp_path / "golden" / "manifest.json"
        data = json.loads(manifest.read_text())
        flipped = data["samples"][1]
        flipped["expect"] = "NG" if flipped["expect"] == "OK" else "OK"  # tampered on purpose
        manifest.write_text(json.dumps(data))
        run = actions.run().result(30)
        assert run is not None and not run.passed
        text = actions.text()
        assert text.passed is False and text.headline.startswith("FAILED: 1 of 3 golden samples changed (gui,")
        assert text.lines == (f"{flipped['name']}: expected {flipped['expect']}, got {run.failures[0].got} "
                              f"(score {run.failures[0].score:.4g}, recorded {flipped['score']:.4g})",)  # fmt: skip
        assert "Self-test FAILED" in live.messages[-1].text and live.messages[-1].level == "error"
        live.poll()
        assert live.phase is Phase.SELF_TEST_FAILED and actions.blocked

        assert actions.acknowledge("gui:anna (engineer)", "  ") == (
            False,
            "Not acknowledged: give a reason (it goes into the audit trail).",
        )
        assert live.phase is Phase.SELF_TEST_FAILED
        done, said = actions.acknowledge("gui:anna (engineer)", "sample 2 relabelled, checked by hand")
        assert done and "runs again" in said
        assert live.phase is Phase.RUNNING and not actions.blocked
        assert actions.acknowledge("gui:anna (engineer)", "again")[0] is False
    finally:
        assert live.close()
    acks = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "golden_ack"]
    assert [(e["who"], e["why"]) for e in acks] == [("gui:anna (engineer)", "sample 2 relabelled, checked by hand")]
    runs = [json.loads(line) for line in (tmp_path / "golden" / "runs.jsonl").read_text().splitlines()]
    assert [(r["trigger"], r["passed"]) for r in runs] == [("gui", True), ("gui", False)]
