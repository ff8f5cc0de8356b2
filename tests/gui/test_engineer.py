"""Engineer mode: the PIN gate, inactivity lock, a threshold change taking effect, ROI, bundle swap."""

from __future__ import annotations

import json
import shutil

from qt_helpers import DEMO, PIN, FakeClock, camera, unlock, wait_records

from inspector.live.station import build_engine


def test_pin_gate_and_inactivity_lock(qtbot, make_window, tmp_path) -> None:
    clock = FakeClock()
    window = make_window(clock=clock)
    assert window.engineer.currentIndex() == 0 and not window.lock.unlocked
    dialog = window.open_engineer()
    dialog.pin.setText("1111")
    dialog.try_pin()
    assert dialog.isVisible() and dialog.error.text() == "Wrong PIN." and not window.lock.unlocked
    dialog.pin.setText(PIN)
    dialog.try_pin()
    assert window.lock.unlocked
    window.slow_tick()
    assert window.engineer.currentIndex() == 1 and window.tabs.currentWidget() is window.engineer
    stored = (tmp_path / "gui.json").read_text()
    assert PIN not in stored and json.loads(stored)["pins"]["engineer"]["algo"] == "scrypt"
    clock.advance(30)
    window.lock.touch()  # input keeps it open
    clock.advance(45)
    window.slow_tick()
    assert window.lock.unlocked
    clock.advance(61)
    window.slow_tick()
    assert not window.lock.unlocked and window.engineer.currentIndex() == 0


def test_threshold_change_takes_effect(qtbot, make_window) -> None:
    window = make_window([camera("cam1", fps=20.0, ng_rate=0.5)])
    wait_records(qtbot, window, 10)
    unlock(window)
    window.slow_tick()
    panel = window.engineer
    running = window.station.threshold
    scores = list(window.station.stats.recent_scores)
    high = max(scores) + 1.0
    panel.set_slider(high)
    window.slow_tick()
    to_ng, to_ok = window.station.stats.would_change(panel.slider_value(), running)
    assert to_ng == 0 and to_ok == sum(s > running for s in scores)
    assert f"{to_ok} NG would become OK" in panel.preview_label.text()
    panel.apply_threshold(high * 100)
    assert window.station.engine.threshold == high * 100
    seen = []

    def new_records() -> bool:
        seen.extend(r for r in window.station.sink.drain() if r.result.threshold == high * 100)
        return len(seen) >= 5

    window.frame_timer.stop()
    qtbot.waitUntil(new_records, timeout=10000)
    assert all(r.result.verdict.value == "OK" for r in seen)
    window.slow_tick()
    assert f"threshold {high * 100:.3f}" in window.model_label.text()


def test_roi_is_applied_from_the_next_frame(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 2)
    unlock(window)
    window.engineer.draw_roi.setChecked(True)
    assert window.views["cam1"].editing_roi
    window.views["cam1"].roiDrawn.emit("cam1", (10, 12, 64, 80))
    assert window.station.cameras["cam1"].roi == (10, 12, 64, 80)
    qtbot.waitUntil(lambda: window.views["cam1"].record.roi == (10, 12, 64, 80), timeout=10000)  # the next part
    assert not window.views["cam1"].editing_roi and "[10, 12, 64, 80]" in window.engineer.roi_label.text()
    window.engineer.set_roi("cam1", (0, 0, 4, 4))
    assert "too small" in window.engineer.roi_label.text()
    assert window.station.cameras["cam1"].roi == (10, 12, 64, 80)


def test_a_refused_bundle_leaves_the_running_model(qtbot, make_window, tmp_path) -> None:
    window = make_window()
    wait_records(qtbot, window, 2)
    running = window.station.engine
    bad = tmp_path / "bad.onnx"
    shutil.copy(DEMO, bad)
    shutil.copy(DEMO.with_name(DEMO.name + ".sha256"), tmp_path / "bad.onnx.sha256")
    with open(bad, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    assert window.station.load_bundle(bad).result(timeout=10) is False
    assert window.station.engine is running
    message = window.station.messages[-1]
    assert message.level == "error" and "keeps going" in message.text
    window.slow_tick()  # an important outcome: a banner that stays until OK (or a minute), not only the status bar
    assert window.notice_row.isVisible() and window.notice.text() == message.text
    good = tmp_path / "good.onnx"
    shutil.copy(DEMO, good)
    shutil.copy(DEMO.with_name(DEMO.name + ".sha256"), tmp_path / "good.onnx.sha256")
    assert window.station.load_bundle(good).result(timeout=10) is True
    assert window.station.engine is not running and window.station.pipeline.engine is window.station.engine


def test_a_bad_model_at_start_shows_model_error(qtbot, make_window, tmp_path) -> None:
    missing = tmp_path / "nope.onnx"
    window = make_window(engine_factory=lambda config, path: build_engine(config, path or missing))
    qtbot.waitUntil(lambda: window.station.phase.value == "MODEL ERROR", timeout=5000)
    window.slow_tick()
    assert window.phase_pill.text() == "MODEL ERROR"
    assert window.banner.isVisible() and "model cannot be used" in window.banner.text()


def test_roi_drawn_with_the_mouse(qtbot, make_window) -> None:
    from PySide6.QtCore import QPoint, Qt

    window = make_window()
    view = window.views["cam1"]
    qtbot.waitUntil(lambda: view.record is not None, timeout=10000)
    unlock(window)
    window.engineer.draw_roi.setChecked(True)
    rect = view.image_rect()
    a = QPoint(int(rect.x() + rect.width() * 0.25), int(rect.y() + rect.height() * 0.25))
    b = QPoint(int(rect.x() + rect.width() * 0.75), int(rect.y() + rect.height() * 0.75))
    qtbot.mousePress(view, Qt.LeftButton, pos=a)
    qtbot.mouseMove(view, b)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=b)
    x, y, w, h = window.station.cameras["cam1"].roi
    assert abs(x - 32) <= 2 and abs(y - 32) <= 2 and abs(w - 64) <= 3 and abs(h - 64) <= 3


def test_camera_settings_restart_the_cameras(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 2)
    unlock(window)
    old = window.station.pipeline
    window.engineer._fields["source.fps"].setValue(5.0)
    window.engineer.apply_camera()
    qtbot.waitUntil(lambda: window.station.pipeline is not old, timeout=10000)
    assert window.station.cameras["cam1"].source["fps"] == 5.0
    assert window.station.pipeline.cameras["cam1"].config.source["fps"] == 5.0
    count = window.station.stats.total().inspected
    wait_records(qtbot, window, count + 2)


def test_disk_full_warning(qtbot, make_window) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    window = make_window(disk_usage=lambda path: usage(10**10, 10**10 - 10**8, 10**8))
    qtbot.waitUntil(lambda: bool(window.station.disk_warning), timeout=5000)
    window.slow_tick()
    assert window.banner.isVisible() and "Disk almost full: 100 MB free" in window.banner.text()
