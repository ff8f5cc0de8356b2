"""Issue 15, items 1-3: the reject you click is the one that opens, a part is judged and saved with its own
ROI, and one correction per part gives a manifest that `inspector data check` accepts."""

from __future__ import annotations

import argparse
from collections import deque

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QEnterEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import camera, record, wait_records

from inspector.data import check
from inspector.gui.gallery import NgGallery, PartDialog
from inspector.imageio import read_image
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue


def gallery_with(qtbot, n: int) -> tuple[NgGallery, deque]:
    gallery = NgGallery()
    qtbot.addWidget(gallery)
    gallery.resize(380, 500)
    gallery.show()
    rejects: deque = deque(maxlen=24)
    rejects.extend(record(2.0 + i, frame_id=i) for i in range(n))
    gallery.refresh(rejects, n)
    return gallery, rejects


def hover(gallery: NgGallery) -> None:
    centre = QPointF(gallery.rect().center())
    QApplication.sendEvent(gallery, QEnterEvent(centre, centre, gallery.mapToGlobal(centre)))


def test_clicking_a_reject_while_new_rejects_arrive_opens_that_reject(qtbot) -> None:
    gallery, rejects = gallery_with(qtbot, 6)
    aimed = gallery.record_at(3)
    hover(gallery)
    pos = gallery.visualItemRect(gallery.item(3)).center()
    rejects.extend(record(9.0 + i, frame_id=100 + i) for i in range(3))  # arrive while the pointer is there
    gallery.refresh(rejects, 9)
    assert gallery.marker.isVisible() and gallery.marker.text() == "3 new rejects: show"
    with qtbot.waitSignal(gallery.opened) as opened:
        qtbot.mouseClick(gallery.viewport(), Qt.LeftButton, pos=pos)
    assert opened.args[0] is aimed
    QApplication.sendEvent(gallery, QEvent(QEvent.Leave))  # the pointer leaves
    gallery.clearSelection()
    gallery.refresh(rejects, 9)
    assert gallery.count() == 9 and gallery.record_at(0).frame_id == 102 and not gallery.marker.isVisible()


def test_the_selection_does_not_slide_and_the_marker_shows_the_new_ones(qtbot) -> None:
    gallery, rejects = gallery_with(qtbot, 5)
    gallery.activateWindow()
    gallery.setFocus()
    qtbot.waitUntil(gallery.hasFocus, timeout=2000)
    gallery.setCurrentRow(1)
    selected, where = gallery.record_at(1), gallery.visualItemRect(gallery.item(1))
    rejects.append(record(7.0, frame_id=50))
    gallery.refresh(rejects, 6)
    assert gallery.currentItem().data(Qt.UserRole) is selected
    assert gallery.visualItemRect(gallery.currentItem()) == where  # the grid stayed put
    assert gallery.marker.text() == "1 new reject: show"
    with qtbot.waitSignal(gallery.opened) as opened:
        qtbot.keyClick(gallery, Qt.Key_Return)
    assert opened.args[0] is selected
    gallery.marker.click()
    assert gallery.record_at(0).frame_id == 50 and not gallery.selectedItems() and not gallery.marker.isVisible()


def test_a_part_is_judged_and_saved_with_its_own_roi(qtbot, make_window) -> None:
    window = make_window([camera("cam1", fps=20.0, ng_rate=0.8)])
    qtbot.waitUntil(lambda: window.station.stats.total().ng >= 1, timeout=15000)
    old = window.station.stats.gallery[-1]
    assert old.roi is None
    window.station.set_roi("cam1", (10, 10, 81, 81))
    qtbot.waitUntil(lambda: window.station.stats.cameras["cam1"].latest.roi == (10, 10, 81, 81), timeout=10000)
    window.slow_tick()
    dialog = window.open_part(old)
    assert dialog.roi is None and "inspected the whole frame" in dialog.info.text()
    qtbot.mouseClick(dialog.mark, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(window.review.rows()) == 1, timeout=5000)
    row = window.review.rows()[0]
    assert row["roi"] == "" and row["full_image"] == ""
    assert row["threshold"] == f"{old.result.threshold:.6g}" and row["model"] == old.result.model_fingerprint[:16]
    assert read_image(window.review.root / row["image"]).shape == old.image.shape  # the whole frame, not 81x81
    new = window.station.stats.cameras["cam1"].latest
    assert window.views["cam1"].roi == new.roi == (10, 10, 81, 81)
    dialog.close()
    second = window.open_part(new)
    assert second.roi == (10, 10, 81, 81)
    second.close()


def test_marking_a_part_twice_gives_one_row_and_the_export_passes_the_data_check(qtbot, tmp_path, capsys) -> None:
    queue = ReviewQueue(tmp_path / "review")
    part = record(2.0, frame_id=7)
    queue.add(part, FALSE_REJECT)
    queue.add(part, FALSE_REJECT)
    escape = record(0.5, frame_id=8, roi=(4, 4, 20, 20))
    queue.add(escape, ESCAPE, label="scratch")
    queue.add(escape, ESCAPE, label="dent")  # the second mark replaces the first
    for i in range(9, 15):
        queue.add(record(2.0, frame_id=i), FALSE_REJECT)
    rows = queue.rows()
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert [r["label"] for r in rows if r["kind"] == ESCAPE] == ["dent"]
    assert queue.find(escape)["label"] == "dent" and queue.find(record(1.0, frame_id=99)) is None
    queue.export_manifest()
    args = argparse.Namespace(data=queue.root, seed=0, json=None)
    assert check.run(args) == 0, capsys.readouterr().out


def test_the_part_window_says_when_a_part_is_already_in_the_queue(qtbot, make_window) -> None:
    window = make_window([camera("cam1", fps=20.0, ng_rate=0.8)])
    wait_records(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.station.stats.total().ng >= 1, timeout=15000)
    part = window.station.stats.gallery[-1]
    window.review.add(part, FALSE_REJECT)
    dialog = window.open_part(part)
    assert isinstance(dialog, PartDialog) and "Already in the review queue as good" in dialog.mark.toolTip()
    dialog.close()
