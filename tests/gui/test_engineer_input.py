"""Issue 15, items 4, 6 and 8: a threshold nobody moved stays put, the wheel changes nothing unfocused, bad camera
settings are refused with the old ones kept, and an ROI the model was not calibrated on is asked first."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import FakeClock, camera, record, unlock, wait_records


def wheel(widget, steps: int = 1) -> None:
    """Wheel `steps` notches down over `widget`, as a mouse over it would."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, -120 * steps),
        Qt.NoButton,
        Qt.NoModifier,
        Qt.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_slider_opens_at_the_running_threshold_and_keeps_its_value_for_30_s_untouched(qtbot, make_window) -> None:
    clock = FakeClock()
    window = make_window(clock=clock)
    wait_records(qtbot, window, 3)
    unlock(window)
    window.slow_tick()
    panel, running = window.engineer, window.station.threshold
    assert panel.slider_value() == running and f"<b>{running:.3f}</b>" in panel.value.text()
    for i in range(60):  # 30 s of the slow timer while ever higher scores arrive
        window.station.stats.ingest([record(running * (1.5 + i / 10), frame_id=1000 + i, threshold=running)])
        clock.advance(0.5)
        window.lock.touch()
        window.slow_tick()
    assert panel.slider_value() == running
    assert "0 OK would become NG and 0 NG would become OK" in panel.preview_label.text()
    panel.slider.setValue(panel.slider.value() + 50)  # the user moves it: now it changes
    assert panel.slider_value() > running
    moved = panel.slider_value()
    window.station.stats.ingest([record(running * 20, frame_id=2000, threshold=running)])
    window.slow_tick()
    assert panel.slider_value() == moved


def test_the_wheel_changes_no_setting_unless_the_field_has_focus(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 1)
    unlock(window)
    window.slow_tick()
    fps = window.engineer._fields["max_fps"]
    before, position = fps.value(), window.engineer.slider.value()
    wheel(fps, 3)
    wheel(window.engineer.slider, 3)
    wheel(window.engineer.camera, 1)
    assert fps.value() == before and window.engineer.slider.value() == position
    assert window.engineer.slider_value() == window.station.threshold
    window.activateWindow()
    fps.setFocus()
    qtbot.waitUntil(fps.hasFocus, timeout=2000)
    wheel(fps, 1)
    assert fps.value() < before


def test_bad_camera_settings_are_refused_and_the_old_ones_kept(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 2)
    unlock(window)
    window.slow_tick()
    panel, pipeline = window.engineer, window.station.pipeline
    kept = window.station.cameras["cam1"]
    panel._fields["source.size"].setValue(0)
    assert panel.apply_camera() is False
    assert window.station.cameras["cam1"] == kept and window.station.pipeline is pipeline
    assert "Camera settings not applied" in panel.camera_error.text() and "source.size" in panel.camera_error.text()
    window.slow_tick()
    assert window.notice_row.isVisible() and "keeps its running settings" in window.notice.text()
    panel._fields["source.size"].setValue(kept.source["size"])
    panel._fields["source.style"].setText("plaid")
    assert panel.apply_camera() is False
    assert (
        "'plaid' is not a surface style" in panel.camera_error.text() and "brushed, woven" in panel.camera_error.text()
    )
    assert window.station.cameras["cam1"] == kept and window.station.pipeline is pipeline
    panel._fields["source.style"].setText("woven")
    assert panel.apply_camera() is True
    qtbot.waitUntil(lambda: window.station.pipeline is not pipeline, timeout=10000)
    assert window.station.cameras["cam1"].source["style"] == "woven" and panel.camera_error.text() == ""


def test_an_roi_the_model_was_not_calibrated_on_is_asked_first(qtbot, make_window) -> None:
    answers: list[bool] = []
    questions: list[str] = []

    def confirm(parent, title: str, question: str) -> bool:
        questions.append(question)
        return answers.pop(0) if answers else True

    window = make_window([camera("cam1")], confirm=confirm)
    wait_records(qtbot, window, 1)
    unlock(window)
    answers.append(False)
    assert window.engineer.set_roi("cam1", (10, 10, 64, 64)) is False
    assert window.station.cameras["cam1"].roi is None and "calibrated on whole frames" in questions[-1]
    assert window.engineer.roi_label.text() == "ROI not changed."
    answers.append(True)
    assert window.engineer.set_roi("cam1", (10, 10, 64, 64)) is True
    assert window.station.cameras["cam1"].roi == (10, 10, 64, 64)
    assert "many parts may turn NG" in window.engineer.roi_label.text()
    asked = len(questions)
    assert window.engineer.set_roi("cam1", None) is True and len(questions) == asked  # back to what it was set up with


def test_the_threshold_control_says_what_the_calibration_can_guarantee(qtbot, make_window) -> None:
    from inspector.threshold import describe_calibration

    window = make_window()
    wait_records(qtbot, window, 1)
    unlock(window)
    window.slow_tick()
    deployed = window.station.engine.bundle.metadata.threshold_method["deployed"]
    text, warns = describe_calibration(deployed)
    assert window.engineer.calibration_label.text().endswith(text)
    assert window.engineer.calibration_label.objectName() == ("warning" if warns else "muted")
    tiny = {
        "n_calibration": 20,
        "target_frr": 0.01,
        "guaranteed": False,
        "warning": "20 good images can guarantee a false-reject rate of 4.8 %; add 79 more for the 1 % you asked.",
    }
    assert describe_calibration(tiny) == (tiny["warning"], True)
    honest = {
        "n_calibration": 761,
        "target_frr": 0.01,
        "expected_frr": 0.0092,
        "expected_frr_interval90": [0.0043, 0.0155],
        "guaranteed": True,
    }
    assert describe_calibration(honest) == (
        "Calibrated on 761 good images for a false-reject rate of 1 %; expected 0.92 % (90 % interval 0.43-1.6 %).",
        False,
    )
