"""NG rate and score over time per camera, drawn with QPainter (no plotting library); the score strip also shows
each camera's drift control limits and active drift alarms (inspector.live.drift, docs/verdicts.md#drift)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.gui import theme
from inspector.operator.stats import Bucket

if TYPE_CHECKING:
    from inspector.live.drift import CameraDrift

_ALARM_WORDS = {"score_up": "score up", "score_down": "score down", "ng_rate": "NG rate", "unsure_rate": "UNSURE rate"}


class TrendView(QWidget):
    """Two strips: NG rate (%) per camera, and mean score per camera against the threshold (dashed), with each
    camera's drift centre (dotted) and EWMA control limits (dash-dot) in its colour and the drift alarms in words."""

    def __init__(
        self,
        span_s: float = 600.0,
        parent: QWidget | None = None,
        wall: Callable[[], float] = time.time,
        bucket_s: float = 10.0,
    ) -> None:
        super().__init__(parent)
        self.span_s = span_s
        self.bucket_s = bucket_s
        self.top_rate = 100.0  # the NG % axis' top, as last drawn
        self.polylines = 0  # line pieces last drawn (an outage splits a camera's line)
        self._wall = wall
        self.series: dict[str, tuple[str, Sequence[Bucket]]] = {}  # camera -> (colour, buckets)
        self.threshold: float | None = None
        self.drift: Mapping[str, CameraDrift] = {}  # camera -> its drift charts (PipelineSnapshot.drift)
        self.limit_lines = 0  # drift centre and limit lines last drawn
        self.alarm_text = ""  # the drift alarms in words, as last drawn ("" = none)
        self.shown_s = 60.0  # the x axis: grows with the data up to span_s
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip(
            "Trend (up to the last 10 minutes): NG rate (top), mean score against the threshold (bottom, dashed);"
            " dotted: a camera's usual score, dash-dot: its drift control limits"
        )

    def set_data(
        self,
        series: dict[str, tuple[str, Sequence[Bucket]]],
        threshold: float | None,
        drift: Mapping[str, CameraDrift] | None = None,
    ) -> None:
        self.series, self.threshold = series, threshold
        self.drift = drift or {}
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.PANEL))
        now = self._wall()
        starts = [b.start for _, buckets in self.series.values() for b in buckets]
        self.shown_s = min(self.span_s, max(60.0, now - min(starts))) if starts else 60.0
        left, right = 46.0, 10.0
        legend_h = 18.0
        height = (self.height() - legend_h - 12) / 2
        rate_box = QRectF(left, legend_h + 4, self.width() - left - right, height - 6)
        score_box = QRectF(left, legend_h + height + 6, self.width() - left - right, height - 6)
        self._legend(p)
        series = {cam: [b for b in buckets if b.n] for cam, (_, buckets) in self.series.items()}
        rates = {cam: [(b.start, 100.0 * b.ng_rate) for b in buckets] for cam, buckets in series.items()}
        scores = {cam: [(b.start, b.score_mean) for b in buckets] for cam, buckets in series.items()}
        self.top_rate = rate_axis_top(max([v for pts in rates.values() for _, v in pts], default=0.0))
        top_rate = self.top_rate
        limits = self._limits()
        top_score = (
            max(
                [v for pts in scores.values() for _, v in pts]
                + [(self.threshold or 1.0) * 1.3]
                + [v for _, values in limits for v in values]
            )
            * 1.1
        )
        self._axes(p, rate_box, top_rate, "NG %")
        self.polylines = 0
        self._axes(p, score_box, top_score, "score")
        if self.threshold is not None:
            y = score_box.bottom() - score_box.height() * self.threshold / top_score
            p.setPen(QPen(QColor(theme.NG), 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(score_box.left(), y), QPointF(score_box.right(), y))
        self._drift_lines(p, score_box, top_score, limits)
        for cam, (colour, _) in self.series.items():
            self._line(p, rate_box, rates[cam], top_rate, colour, now)
            self._line(p, score_box, scores[cam], top_score, colour, now)
        if not any(rates.values()):
            p.setPen(QColor(theme.MUTED))
            p.drawText(rate_box, Qt.AlignmentFlag.AlignCenter, "no parts yet")
        self.alarm_text = alarm_text(self.drift, list(self.series))
        if self.alarm_text:
            p.setPen(QColor(theme.NG))
            p.drawText(
                score_box.adjusted(4, 2, -4, -2),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                self.alarm_text,
            )
        p.end()

    def _limits(self) -> list[tuple[str, tuple[float, float, float]]]:
        """(colour, (centre, low, high)) of each shown camera whose score chart has limits."""
        out = []
        for cam, (colour, _) in self.series.items():
            chart = self.drift.get(cam)
            if chart is not None and chart.score_center is not None and chart.score_limits is not None:
                out.append((colour, (chart.score_center, *chart.score_limits)))
        return out

    def _drift_lines(
        self, p: QPainter, box: QRectF, top: float, limits: list[tuple[str, tuple[float, float, float]]]
    ) -> None:
        self.limit_lines = 0
        for colour, values in limits:
            for i, value in enumerate(values):
                style = Qt.PenStyle.DotLine if i == 0 else Qt.PenStyle.DashDotLine
                y = box.bottom() - box.height() * min(value / top, 1.0)
                p.setPen(QPen(QColor(colour), 1, style))
                p.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
                self.limit_lines += 1

    def _legend(self, p: QPainter) -> None:
        x = 46.0
        p.setFont(self.font())
        for cam, (colour, _) in self.series.items():
            p.fillRect(QRectF(x, 6, 12, 8), QColor(colour))
            p.setPen(QColor(theme.MUTED))
            p.drawText(QPointF(x + 16, 15), cam)
            x += 28 + p.fontMetrics().horizontalAdvance(cam)
        p.drawText(
            QRectF(0, 0, self.width() - 10, 18),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            f"last {self.shown_s / 60:.0f} min" if self.shown_s >= 120 else f"last {self.shown_s:.0f} s",
        )

    def _axes(self, p: QPainter, box: QRectF, top: float, label: str) -> None:
        p.setPen(QPen(QColor(theme.RAISED), 1))
        p.drawRect(box)
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(0, box.top() - 2, box.left() - 6, 14), Qt.AlignmentFlag.AlignRight, f"{top:.0f}")
        p.drawText(QRectF(0, box.center().y() - 7, box.left() - 6, 14), Qt.AlignmentFlag.AlignRight, label)
        p.drawText(QRectF(0, box.bottom() - 12, box.left() - 6, 14), Qt.AlignmentFlag.AlignRight, "0")

    def _line(
        self, p: QPainter, box: QRectF, points: list[tuple[float, float]], top: float, colour: str, now: float
    ) -> None:
        shown = [(t, v) for t, v in points if now - t <= self.shown_s]
        p.setBrush(QColor(colour))
        for run in runs(shown, self.bucket_s * 1.5):  # an outage leaves a gap, not a straight line across it
            vertices = [
                QPointF(
                    box.right() - box.width() * (now - t) / self.shown_s,
                    box.bottom() - box.height() * min(v / top, 1.0),
                )
                for t, v in run
            ]
            poly = QPolygonF(vertices)
            p.setPen(QPen(QColor(colour), 2))
            p.drawPolyline(poly)
            self.polylines += 1
            for point in vertices:
                p.drawEllipse(point, 2.5, 2.5)


def alarm_text(drift: Mapping[str, CameraDrift], cameras: Sequence[str]) -> str:
    """The drift alarms of `cameras` in words: "DRIFT cam0: score up, NG rate" ("" when none)."""
    parts = []
    for cam in cameras:
        chart = drift.get(cam)
        if chart is None or not chart.alarms:
            continue
        words = [_ALARM_WORDS.get(a.removeprefix(f"drift_{cam}_"), a) for a in chart.alarms]
        parts.append(f"{cam}: {', '.join(words)}")
    return f"DRIFT {'; '.join(parts)}" if parts else ""


def rate_axis_top(highest: float) -> float:
    """The NG % axis' top: the smallest of 10, 20, 50 and 100 that holds `highest` (never above 100)."""
    return next((top for top in (10.0, 20.0, 50.0) if highest <= top * 0.95), 100.0)


def runs(points: list[tuple[float, float]], max_gap: float) -> list[list[tuple[float, float]]]:
    """`points` (time, value) split where consecutive times are more than `max_gap` apart."""
    out: list[list[tuple[float, float]]] = []
    for point in points:
        if out and point[0] - out[-1][-1][0] <= max_gap:
            out[-1].append(point)
        else:
            out.append([point])
    return out
