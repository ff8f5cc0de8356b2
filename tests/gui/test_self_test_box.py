"""Issue 10 item 2 on real widgets (offscreen): the engineer panel's "Run self-test" runs the station's golden
samples in the background and shows the outcome; with one expected verdict flipped it reports the sample and
the station goes to SELF-TEST FAILED; "Acknowledge" (only then enabled) needs the engineer PIN and a reason,
and unblocks with an audit entry. The part window adds a golden sample."""

from __future__ import annotations

import json
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
station = "line3"

[model]
path = "{model}"
threads = 1

[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 8
size = 128
"""


def golden_station(tmp_path: Path, seeds: tuple[int, ...] = (3, 4)) -> Path:
    """A station config with golden samples recorded by the demo bundle (each with the verdict it gets)."""
    engine = Engine(load_bundle(DEMO, threads=1))
    golden = GoldenSet(tmp_path / "golden")
    for seed in seeds:
        part = make_part(np.random.default_rng(seed), size=(128, 128)).image
        image = tmp_path / f"part{seed}.png"
        assert cv2.imwrite(str(image), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
        golden.add(image, engine.inspect([part])[0].verdict.value, engine)
    path = tmp_path / "station.toml"
    path.write_text(STATION.format(model=DEMO))
    return path


def flip(tmp_path: Path, index: int) -> dict:
    """Tamper with the expected verdict of one golden sample; returns it (as now written)."""
    manifest = tmp_path / "golden" / "manifest.json"
    data = json.loads(manifest.read_text())
    sample = data["samples"][index]
    sample["expect"] = "NG" if sample["expect"] == "OK" else "OK"
    manifest.write_text(json.dumps(data))
    return sample


def test_run_self_test_passes_then_reports_a_flipped_sample_and_acknowledge_needs_the_pin(
    qtbot, open_station, tmp_path: Path
) -> None:
    window = open_station(load_config(golden_station(tmp_path)))
    assert window.station.phase.value == "RUNNING"
    unlock(window)
    window.slow_tick()
    box = window.engineer.self_test_box
    assert "Passed: all 2 golden samples as expected (start," in box.headline.text()
    assert not box.ack_button.isEnabled() and box.run_button.isEnabled()
    qtbot.mouseClick(box.run_button, Qt.MouseButton.LeftButton)  # the real button, the real signal
    qtbot.waitUntil(lambda: (box.refresh(), box.golden.last().trigger)[1] == "gui", timeout=20000)
    assert "Passed: all 2 golden samples as expected (gui," in box.headline.text()
    assert not box.changed.isVisible()

    sample = flip(tmp_path, 1)
    future = box.run_self_test()
    run = future.result(30)
    assert run is not None and not run.passed
    box.refresh()
    assert "FAILED: 1 of 2 golden samples changed (gui," in box.headline.text()
    assert f"{sample['name']}: expected {sample['expect']}, got" in box.changed.text() and box.changed.isVisible()
    qtbot.waitUntil(lambda: (window.slow_tick(), window.phase_pill.text())[1] == "SELF-TEST FAILED", timeout=10000)
    assert box.ack_button.isEnabled()

    window.lock_engineer()  # the engineer left: acknowledging asks for the engineer PIN first
    reasons: list[str] = []
    box.ask = lambda *_: (reasons.append("asked"), "sample relabelled on purpose")[1]
    dialog = box.acknowledge()
    assert isinstance(dialog, PinDialog) and dialog.windowTitle() == "Engineer PIN"
    dialog.pin.setText("999999")
    dialog.try_pin()
    assert dialog.error.text() == "Wrong PIN." and reasons == []
    window.slow_tick()
    assert window.phase_pill.text() == "SELF-TEST FAILED"
    dialog.pin.setText(PIN)
    dialog.try_pin()  # accepted: the acknowledgement goes on, asking the reason
    assert reasons == ["asked"]
    window.slow_tick()
    assert window.phase_pill.text() in ("RUNNING", "CAMERA DOWN") and not box.ack_button.isEnabled()
    acks = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "golden_ack"]
    assert [(e["who"].endswith("(engineer)"), e["why"]) for e in acks] == [(True, "sample relabelled on purpose")]


def test_a_cancelled_reason_does_not_acknowledge(qtbot, open_station, tmp_path: Path) -> None:
    golden_station(tmp_path, seeds=(3,))
    flip(tmp_path, 0)  # fails at start already
    window = open_station(load_config(tmp_path / "station.toml"))
    qtbot.waitUntil(lambda: (window.slow_tick(), window.station.phase.value)[1] == "SELF-TEST FAILED", timeout=10000)
    unlock(window)
    box = window.engineer.self_test_box
    window.slow_tick()
    assert box.ack_button.isEnabled() and "FAILED: 1 of 1 golden samples changed (start," in box.headline.text()
    box.ask = lambda *_: None  # the engineer cancels the reason
    assert box.acknowledge() is False
    window.slow_tick()
    assert window.phase_pill.text() == "SELF-TEST FAILED"
    box.ask = lambda *_: ""  # an empty reason is refused in words
    assert box.acknowledge() is False
    assert "give a reason" in window.station.messages[-1].text
    assert window.station.phase.value == "SELF-TEST FAILED"


def test_the_part_window_adds_a_golden_sample(qtbot, open_station, tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(STATION.format(model=DEMO))
    window = open_station(load_config(path))
    qtbot.waitUntil(lambda: (window.tick(), window.views["cam1"].record)[1] is not None, timeout=15000)
    record = window.views["cam1"].record
    dialog = window.open_part(record)
    button = next(b for b in dialog.findChildren(type(window.engineer_button)) if "golden" in b.text())
    assert button.text() == f"Add as golden sample (expect {record.result.verdict.value})"
    button.click()  # locked: asks for the engineer PIN first
    pin = next(d for d in window.findChildren(PinDialog) if d.isVisible())
    pin.pin.setText(PIN)
    pin.try_pin()
    samples = GoldenSet(tmp_path / "golden")
    qtbot.waitUntil(lambda: len(samples.samples()) == 1, timeout=15000)
    added = samples.samples()[0]
    assert added.expect == record.result.verdict.value and added.name == f"cam1_{record.frame_id:06d}.png"
    assert not button.isEnabled()
    dialog.close()
