"""The window on the synthetic line: verdicts arrive, counters count, the NG gallery fills, closing stops threads."""

from __future__ import annotations

import csv
import threading

from PySide6.QtCore import Qt
from qt_helpers import camera, flush_deletes, wait_records

from inspector.gui.gallery import PartDialog
from inspector.live.station import build_engine
from inspector.operator.review import FALSE_REJECT


def test_window_starts_on_the_synthetic_line_and_verdicts_arrive(qtbot, make_window) -> None:
    loading = threading.Event()  # the model "loads" until the test lets it

    def slow_load(config, path):
        assert loading.wait(10)
        return build_engine(config, path)

    window = make_window([camera("cam1"), camera("cam2", seed=1)], engine_factory=slow_load)
    window.slow_tick()
    assert window.station.phase.value == "STARTING" and window.phase_pill.text() == "STARTING"
    assert window.station.pipeline is None
    loading.set()
    wait_records(qtbot, window, 6)
    qtbot.waitUntil(lambda: all(v.record is not None for v in window.views.values()), timeout=10000)
    window.slow_tick()
    assert window.phase_pill.text() == "RUNNING"
    for cam, view in window.views.items():
        assert view.status.state == "UP"
        assert view.record.camera == cam and view.frames_shown >= 1
        assert view.record.result.verdict.value in ("OK", "NG")
    total = window.station.stats.total()
    assert window.counters.cell_text("total", "inspected") == str(total.inspected)
    assert int(window.counters.cell_text("cam1", "OK")) + int(window.counters.cell_text("cam1", "NG")) == int(
        window.counters.cell_text("cam1", "inspected")
    )
    assert window.counters.cell_text("total", "yield").endswith("%")


def test_ng_gallery_fills_and_a_wrong_verdict_goes_to_the_review_queue(qtbot, make_window, tmp_path) -> None:
    window = make_window([camera("cam1", fps=20.0, ng_rate=0.8)])
    qtbot.waitUntil(lambda: window.station.stats.total().ng >= 3, timeout=15000)
    window.slow_tick()
    assert window.gallery.count() >= 3
    newest = window.station.stats.gallery[-1]
    item = window.gallery.item(0)
    rect = window.gallery.visualItemRect(item)
    qtbot.mouseClick(window.gallery.viewport(), Qt.LeftButton, pos=rect.center())
    dialogs = window.findChildren(PartDialog)
    assert len(dialogs) == 1
    dialog = dialogs[0]
    assert dialog.record is newest and dialog.record.result.is_ng
    qtbot.mouseClick(dialog.mark, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(window.review.rows()) == 1, timeout=5000)
    row = window.review.rows()[0]
    assert row["kind"] == FALSE_REJECT and row["label"] == "good" and row["verdict"] == "NG"
    assert (window.review.root / row["image"]).is_file()
    manifest = window.review.export_manifest(tmp_path / "export" / "split.csv")
    rows = list(csv.DictReader(manifest.open()))
    assert list(rows[0]) == ["image", "label", "split"] and rows[0]["label"] == "good"
    assert (manifest.parent / rows[0]["image"]).resolve().is_file()
    dialog.close()


def test_counters_reset_asks_first(qtbot, make_window) -> None:
    answers = []
    window = make_window(confirm=lambda *a: answers.pop(0))
    wait_records(qtbot, window, 3)
    answers.append(False)
    assert not window.reset_counters()
    assert window.station.stats.total().inspected >= 3
    answers.append(True)
    window.frame_timer.stop()  # no new record between the reset and the check
    assert window.reset_counters()
    assert window.station.stats.total().inspected == 0
    assert window.counters.cell_text("total", "inspected") == "0"


def test_closing_the_window_stops_every_thread(qtbot, make_window) -> None:
    before = set(threading.enumerate())
    window = make_window([camera("cam1"), camera("cam2", seed=1)])
    wait_records(qtbot, window, 2)
    started = [t for t in threading.enumerate() if t not in before]
    assert any(t.name == "inference" for t in started) and any(t.name.startswith("camera-") for t in started)
    window.close()
    flush_deletes()
    assert window.station.phase.value == "STOPPED"
    assert not any(t.is_alive() for t in started if t.name in ("inference", "camera-cam1", "camera-cam2"))
    # the no_leaks fixture then checks that nothing else (readers, control thread, widgets) is left


def test_keyboard_shortcuts(qtbot, make_window) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.views["cam1"].record is not None, timeout=10000)
    window.activateWindow()
    view = window.views["cam1"]
    qtbot.keyClick(window, Qt.Key_H)
    assert not view.show_heatmap
    qtbot.keyClick(window, Qt.Key_H)
    assert view.show_heatmap
    qtbot.keyClick(window, Qt.Key_BracketLeft)
    assert abs(view.opacity - 0.45) < 1e-6
    qtbot.keyClick(window, Qt.Key_F11)
    assert window.isFullScreen()
    qtbot.keyClick(window, Qt.Key_Escape)
    assert not window.isFullScreen()
    qtbot.keyClick(window, Qt.Key_1)
    dialogs = window.findChildren(PartDialog)
    assert len(dialogs) == 1 and dialogs[0].record.camera == "cam1"
    dialogs[0].close()


def test_the_window_managers_close_button_asks_like_ctrl_q(qtbot, make_window) -> None:
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QApplication

    questions: list[str] = []
    answers: list[bool] = []

    def confirm(parent, title: str, question: str) -> bool:
        questions.append(question)
        return answers.pop(0)

    window = make_window(confirm=confirm)
    wait_records(qtbot, window, 1)
    answers.append(False)
    event = QCloseEvent()
    QApplication.sendEvent(window, event)  # what the title bar's close button sends
    assert not event.isAccepted() and window.isVisible() and window.station.phase.value == "RUNNING"
    assert questions == ["Stop inspecting and close Inspector?"]
    answers.append(False)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key_Q, Qt.ControlModifier)
    assert len(questions) == 2 and window.isVisible()
    window.session_ending()  # logout or shutdown: close without a question
    assert window.close() and len(questions) == 2 and window.station.phase.value == "STOPPED"
    flush_deletes()
