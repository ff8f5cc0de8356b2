"""Issue 10 item 4 on real widgets (offscreen): the Shadow tab of a station running a `[shadow]` candidate (the
demo bundle at another threshold) shows the counts of the station's Shadow snapshot and the latest
disagreements; Promote needs the engineer PIN and a reason, is refused in words when the candidate fails the
golden self-test and swaps otherwise; Rollback puts production back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from qt_helpers import DEMO, PIN, unlock

from inspector.audit import AuditLog
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.gui.engineer import PinDialog
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.synthetic import make_part

pytestmark = pytest.mark.timeout(180)

STATION = """\
schema_version = 1
station = "line4"

[model]
path = "{model}"
threads = 1

[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 10
size = 128

[shadow]
model = "{model}"
threshold = {candidate}
nice = 0
"""


def good_sample(tmp_path: Path) -> tuple[float, float]:
    """One good part the demo bundle judges OK as the golden set; returns (its score, the bundle's threshold)."""
    engine = Engine(load_bundle(DEMO, threads=1))
    for seed in range(3, 40):
        part = make_part(np.random.default_rng(seed), size=(128, 128)).image
        result = engine.inspect([part])[0]
        if result.verdict.value == "OK":
            image = tmp_path / "good.png"
            assert cv2.imwrite(str(image), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
            GoldenSet(tmp_path / "golden").add(image, "OK", engine)
            return float(result.score), float(engine.threshold)
    raise AssertionError("no OK part in 37 seeds")


def shadow_station(tmp_path: Path, candidate: float) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(STATION.format(model=DEMO, candidate=candidate))
    return path


def test_counts_match_the_snapshot_and_promote_is_refused_when_the_candidate_fails_golden(
    qtbot, open_station, tmp_path: Path
) -> None:
    score, _ = good_sample(tmp_path)
    window = open_station(load_config(shadow_station(tmp_path, 0.9 * score)))  # the golden part is NG for it
    panel = window.shadow_panel
    assert panel is not None and window.tabs.tabText(window.tabs.indexOf(panel)) == "Shadow"
    control = window.station.station.shadow
    qtbot.waitUntil(lambda: control.worker.snapshot().disagree.get("OK->NG", 0) >= 3, timeout=60000)
    running = window.station.engine

    reasons: list[str] = []
    panel.ask = lambda *_: (reasons.append("asked"), "try v2")[1]
    dialog = panel.promote()  # locked: the engineer PIN first
    assert isinstance(dialog, PinDialog) and dialog.windowTitle() == "Engineer PIN" and reasons == []
    dialog.pin.setText(PIN)
    dialog.try_pin()
    assert reasons == ["asked"]
    qtbot.waitUntil(lambda: panel.shadow.last_outcome is not None, timeout=30000)
    window.slow_tick()
    assert panel.outcome.text() == (
        "Promote refused: the candidate fails the golden self-test: good.png expected OK got NG. "
        "Production keeps running unchanged."
    )
    assert window.station.engine is running and not control.worker.promoted

    control.worker.stop()  # the candidate's counts hold still from here
    window.slow_tick()
    snap = control.worker.snapshot()
    shown = {name: label.text() for name, label in panel.values.items()}
    assert shown["frames compared"] == str(snap.compared) and shown["skipped (candidate busy)"] == str(snap.skipped)
    assert shown["production OK, candidate NG"] == str(snap.disagree.get("OK->NG", 0))
    assert shown["production NG, candidate OK"] == str(snap.disagree.get("NG->OK", 0))
    assert shown["agreement"] == f"{100 * snap.agree / snap.compared:.1f} %"
    assert "demo.onnx" in panel.headline.text()
    assert 1 <= panel.recent.count() <= 4
    first = panel.recent.item(0)
    assert "production OK" in first.text() and "candidate NG" in first.text() and not first.icon().isNull()
    refused = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "shadow_promote_refused"]
    assert len(refused) == 1 and refused[0]["who"].endswith("(engineer)")

    panel.choose_file = lambda _: str(DEMO)  # Load candidate...: the file dialog's answer
    assert panel.load_candidate().result(60) is True  # unlocked by the PIN above
    window.slow_tick()
    assert control.worker.engine.threshold == pytest.approx(running.threshold)  # the bundle's own threshold
    assert panel.values["frames compared"].text() == "0" and panel.recent.count() == 0  # counts from 0
    loads = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "shadow_load"]
    assert len(loads) == 1 and loads[0]["target"] == str(DEMO)


def test_promote_swaps_when_the_golden_samples_pass_and_rollback_restores(qtbot, open_station, tmp_path: Path) -> None:
    score, threshold = good_sample(tmp_path)
    candidate = (score + threshold) / 2  # the golden part stays OK for the candidate
    window = open_station(load_config(shadow_station(tmp_path, candidate)))
    panel = window.shadow_panel
    unlock(window)
    window.tabs.setCurrentWidget(panel)
    window.slow_tick()
    panel.ask = lambda *_: "v2 passes golden"
    production = window.station.engine
    qtbot.mouseClick(panel.promote_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.shadow.last_outcome is not None, timeout=30000)
    assert panel.shadow.last_outcome.ok, panel.shadow.last_outcome.text
    window.slow_tick()
    assert window.station.engine.threshold == pytest.approx(candidate)
    assert panel.outcome.text() == "Promote: candidate promoted (1 golden samples pass)."
    assert "runs in PRODUCTION" in panel.headline.text()
    assert panel.rollback_button.isEnabled() and not panel.promote_button.isEnabled()
    assert window.phase_pill.text() in ("RUNNING", "CAMERA DOWN")

    qtbot.mouseClick(panel.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.shadow.last_outcome is not None, timeout=30000)
    window.slow_tick()
    assert panel.outcome.text() == "Rollback: previous bundle back in production."
    assert window.station.engine is production and window.station.engine.threshold == pytest.approx(threshold)
    shadow = window.station.station.shadow.worker
    assert shadow.engine is not None and shadow.engine.threshold == pytest.approx(candidate) and not shadow.promoted
    assert "runs in PRODUCTION" not in panel.headline.text() and panel.promote_button.isEnabled()
    assert not panel.rollback_button.isEnabled()
    actions = [e["action"] for e in AuditLog(tmp_path / "audit.jsonl").entries()]
    assert actions.count("shadow_promote") == 1 and actions.count("shadow_rollback") == 1


def test_a_retrained_candidate_goes_to_shadow_mode(qtbot, open_station, tmp_path: Path) -> None:
    _, threshold = good_sample(tmp_path)
    window = open_station(load_config(shadow_station(tmp_path, 0.5 * threshold)))
    unlock(window)
    control = window.station.station.shadow
    asked: list[str] = []
    window._confirm = lambda _parent, title, _text: (asked.append(title), True)[1]
    window.retrain.candidateReady.emit(str(DEMO))  # what a finished retrain hands on
    assert asked == ["Try the retrained model"]

    def loaded() -> list[dict]:  # the load is audited once it judges in shadow
        return [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "shadow_load"]

    qtbot.waitUntil(lambda: len(loaded()) == 1, timeout=60000)
    assert loaded()[0]["target"] == str(DEMO)
    assert control.worker.engine.threshold == pytest.approx(threshold)  # the bundle's own threshold


def test_no_shadow_tab_without_a_candidate(qtbot, make_window) -> None:
    window = make_window()
    assert window.shadow_panel is None
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())].count("Shadow") == 0
