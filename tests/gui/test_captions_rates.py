"""Issue 15, item 7: reject captions keep their score line, the NG % axis stops at 100 and an outage leaves a gap
in the trend (the FPS readout at low rates: tests/operator/test_operator_model.py)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont
from qt_helpers import record

from inspector.gui.gallery import THUMB, NgGallery
from inspector.gui.trend import TrendView
from inspector.operator.stats import Bucket


@pytest.fixture()
def theme_font(qapp):
    """The theme's 10.5 pt font (what `inspector gui` uses) while the test builds its widgets."""
    before = qapp.font()
    font = QFont(before)
    font.setPointSizeF(10.5)
    qapp.setFont(font)
    yield
    qapp.setFont(before)


def test_reject_captions_of_default_camera_ids_fit_with_their_score_line(qtbot, theme_font) -> None:
    gallery = NgGallery()
    qtbot.addWidget(gallery)
    parts = [
        record(12.345, cam=cam, frame_id=i, at=1_700_000_000.0 + 3600 * i) for i, cam in enumerate(["cam1", "cam2"] * 3)
    ]
    gallery.refresh(parts, len(parts))
    metrics, grid = gallery.fontMetrics(), gallery.gridSize()
    assert grid.height() >= THUMB + 2 * metrics.lineSpacing() + 8
    for row in range(gallery.count()):
        lines = gallery.item(row).text().split("\n")
        assert len(lines) == 2 and lines[1] == "score 12.3"
        assert all(metrics.horizontalAdvance(line) <= grid.width() - 8 for line in lines), lines


def test_the_trend_axis_stops_at_100_percent_and_an_outage_leaves_a_gap(qtbot) -> None:
    now = 10_000.0
    view = TrendView(wall=lambda: now)
    qtbot.addWidget(view)
    view.resize(900, 150)
    solid = [Bucket(now - 60 + 10 * i, n=5, ng=5, score_sum=50.0, score_max=12.0) for i in range(5)]
    view.set_data({"cam1": ("#3d8bfd", solid)}, 5.0)
    view.grab()
    assert view.top_rate == 100.0 and view.polylines == 2  # one line per strip
    gap = [Bucket(now - 300 + 10 * i, n=5, ng=1, score_sum=10.0, score_max=3.0) for i in range(3)]
    gap += [Bucket(now - 100 + 10 * i, n=5, ng=0, score_sum=10.0, score_max=3.0) for i in range(3)]
    view.set_data({"cam1": ("#3d8bfd", gap)}, 5.0)
    view.grab()
    assert view.top_rate == 50.0 and view.polylines == 4  # the 170 s outage splits both lines
