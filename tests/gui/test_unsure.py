"""Issue 10 item 1 in the GUI (real widgets, offscreen): an UNSURE part gets an amber badge with its reason, its
own counter column (not counted as OK), and waits in the gallery with its reason and in the part dialog."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtGui import QColor

from inspector.gui import theme
from inspector.gui.camera_view import CameraView
from inspector.gui.counters import CountersTable
from inspector.gui.gallery import NgGallery, PartDialog
from inspector.live.record import FrameRecord
from inspector.operator.state import CameraStatus
from inspector.operator.stats import LineStats
from inspector.result import InspectionResult
from inspector.verdict import Reason, Verdict


def make(frame_id: int, verdict: Verdict, score: float, reason: Reason | None = None) -> FrameRecord:
    result = InspectionResult(
        score=score,
        threshold=1.0,
        verdict=verdict,
        model_fingerprint="f" * 64,
        anomaly_map=np.full((32, 32), score / 4, np.float32),
        reason=reason,
        reason_detail="focus 0.1 below 2" if reason else "",
    )
    image = np.random.default_rng(frame_id).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return FrameRecord("s", "cam1", frame_id, time.time(), result, image, {"total": 5.0})


def amber_pixels(view: CameraView) -> int:
    image = view.grab().toImage()
    amber = QColor(theme.UNSURE).rgb()
    return sum(image.pixel(x, y) == amber for x in range(0, image.width(), 2) for y in range(0, image.height(), 2))


def test_unsure_badge_is_amber_and_names_the_reason(qtbot) -> None:
    view = CameraView("cam1", "#ffffff")
    qtbot.addWidget(view)
    view.resize(480, 360)
    view.show()
    view.status = CameraStatus("UP", message="up")
    view.set_record(make(1, Verdict.NG, 2.0))
    assert amber_pixels(view) == 0
    view.set_record(make(2, Verdict.UNSURE, 3.0, Reason.FOCUS))
    assert amber_pixels(view) > 200  # the badge (and the score bar) in amber
    assert theme.verdict_colour("UNSURE") == theme.UNSURE != theme.verdict_colour("NG")


def test_unsure_is_counted_apart_and_waits_in_the_gallery_with_its_reason(qtbot) -> None:
    stats = LineStats(["cam1"])
    stats.ingest([make(1, Verdict.OK, 0.2), make(2, Verdict.NG, 2.0), make(3, Verdict.UNSURE, 3.0, Reason.FOCUS)])
    table = CountersTable(["cam1"])
    qtbot.addWidget(table)
    table.show_counts(stats)
    assert [table.cell_text("total", c) for c in ("inspected", "OK", "NG", "UNSURE")] == ["3", "1", "1", "1"]
    assert table.cell_text("total", "yield") == "33.3%"  # an UNSURE part is not a good one
    gallery = NgGallery()
    qtbot.addWidget(gallery)
    gallery.resize(380, 500)
    gallery.show()
    gallery.refresh(stats.gallery, stats.ng_added)
    assert gallery.count() == 2
    newest = gallery.item(0)
    assert "UNSURE: focus" in newest.text() and newest.foreground().color() == QColor(theme.UNSURE)
    dialog = PartDialog(gallery.record_at(0), ["good", "defect"])
    qtbot.addWidget(dialog)
    assert "UNSURE" in dialog.info.text() and "can't judge" in dialog.info.text() and "focus 0.1" in dialog.info.text()
