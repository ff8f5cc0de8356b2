"""The gallery names the typer's defect type of an NG part (caption and part dialog); an untyped NG part keeps
its plain caption (real widgets, offscreen)."""

from __future__ import annotations

import time

import numpy as np

from inspector.gui.gallery import NgGallery, PartDialog
from inspector.live.record import FrameRecord
from inspector.operator.stats import LineStats
from inspector.result import InspectionResult
from inspector.verdict import Verdict


def ng(frame_id: int, defect_type: str | None) -> FrameRecord:
    result = InspectionResult(
        score=2.0,
        threshold=1.0,
        verdict=Verdict.NG,
        model_fingerprint="f" * 64,
        anomaly_map=np.full((32, 32), 0.5, np.float32),
        defect_type=defect_type,
        defect_type_probability=0.87 if defect_type else None,
    )
    image = np.random.default_rng(frame_id).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return FrameRecord("s", "cam1", frame_id, time.time(), result, image, {"total": 5.0})


def test_the_gallery_caption_and_dialog_name_the_defect_type(qtbot) -> None:
    stats = LineStats(["cam1"])
    stats.ingest([ng(1, None), ng(2, "scratch")])
    gallery = NgGallery()
    qtbot.addWidget(gallery)
    gallery.resize(380, 500)
    gallery.show()
    gallery.refresh(stats.gallery, stats.ng_added)
    assert gallery.count() == 2
    assert "scratch  score 2.0" in gallery.item(0).text()
    assert "scratch" not in gallery.item(1).text() and "score 2.0" in gallery.item(1).text()
    dialog = PartDialog(gallery.record_at(0), ["good", "defect"])
    qtbot.addWidget(dialog)
    assert "defect type: <b>scratch</b> (p 0.87)" in dialog.info.text()
    plain = PartDialog(gallery.record_at(1), ["good", "defect"])
    qtbot.addWidget(plain)
    assert "defect type" not in plain.info.text()
