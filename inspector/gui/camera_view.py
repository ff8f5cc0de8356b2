"""One camera's live view: frame, heatmap overlay, ROI outline, verdict badge, score against threshold."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.gui import theme
from inspector.live.record import FrameRecord
from inspector.operator.state import CameraStatus

Roi = tuple[int, int, int, int]


class CameraView(QWidget):
    """Paints the newest record of one camera; emits `clicked` and, in ROI edit mode, `roiDrawn`."""

    clicked = Signal(str)
    roiDrawn = Signal(str, object)  # camera id, (x, y, w, h) in frame pixels

    def __init__(self, cam: str, colour: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cam = cam
        self.colour = colour
        self.record: FrameRecord | None = None
        self.status = CameraStatus("STARTING", message="starting")
        self.roi: Roi | None = None
        self.show_heatmap = True
        self.opacity = 0.55
        self.fps = 0.0
        self.latency_ms: float | None = None
        self.editing_roi = False
        self.frames_shown = 0
        self._frame_size: tuple[int, int] | None = None  # (w, h) of the camera frame
        self._shown: QImage | None = None  # the frame with its heatmap, already at display size
        self._drag: tuple[QPointF, QPointF] | None = None
        self.setMinimumSize(220, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"Camera {cam}: click to open the current part")

    # ------------------------------------------------------------------ data in
    def set_record(self, record: FrameRecord) -> None:
        """Render the newest record once, at display size (UI thread, bounded cost), and repaint."""
        self.record = record
        self._render()
        self.frames_shown += 1
        self.update()

    def _render(self) -> None:
        record = self.record
        if record is None or record.image is None:
            return
        self._frame_size = (record.image.shape[1], record.image.shape[0])
        area = self._area()
        ratio = self.devicePixelRatioF()
        size = theme.fit(record.image.shape, max(area.width(), 1) * ratio, max(area.height(), 1) * ratio)
        result = record.result
        heat = result.anomaly_map if self.show_heatmap and self.status.state == "UP" else None
        shown = theme.to_qimage(theme.render(record.image, heat, result.threshold, self.opacity, self.roi, size))
        shown.setDevicePixelRatio(ratio)
        self._shown = shown

    def set_overlay(self, show: bool, opacity: float) -> None:
        self.show_heatmap, self.opacity = show, opacity
        self._render()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        self._render()
        super().resizeEvent(event)

    def set_status(self, status: CameraStatus) -> None:
        if status != self.status:
            redraw = (status.state == "UP") != (self.status.state == "UP")
            self.status = status
            if redraw:
                self._render()
            self.update()

    # ------------------------------------------------------------------ geometry
    def _area(self) -> QRectF:
        return QRectF(self.rect().adjusted(4, 30, -4, -34))

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: aspect-correct, centred above the score bar."""
        area = self._area()
        if self._frame_size is None or area.width() <= 0 or area.height() <= 0:
            return area
        fw, fh = self._frame_size
        scale = min(area.width() / fw, area.height() / fh)
        w, h = fw * scale, fh * scale
        return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)

    @staticmethod
    def _to_widget(roi: Roi, target: QRectF, frame_size: tuple[int, int]) -> QRectF:
        sx, sy = target.width() / frame_size[0], target.height() / frame_size[1]
        return QRectF(target.x() + roi[0] * sx, target.y() + roi[1] * sy, roi[2] * sx, roi[3] * sy)

    def _to_frame(self, a: QPointF, b: QPointF) -> Roi | None:
        if self._frame_size is None:
            return None
        target = self.image_rect()
        sx, sy = self._frame_size[0] / target.width(), self._frame_size[1] / target.height()
        x0, x1 = sorted(min(max(p.x() - target.x(), 0), target.width()) * sx for p in (a, b))
        y0, y1 = sorted(min(max(p.y() - target.y(), 0), target.height()) * sy for p in (a, b))
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.PANEL))
        target = self.image_rect()
        down = self.status.state in ("DOWN", "STOPPED", "STARTING")
        if self._shown is not None:
            p.drawImage(target.topLeft(), self._shown)
            if self.roi and self._frame_size is not None:  # the frame size comes with the first image
                p.setPen(QPen(QColor(theme.ACCENT), 2, Qt.PenStyle.DashLine))
                p.drawRect(self._to_widget(self.roi, target, self._frame_size))
            if down:
                p.fillRect(target, QColor(20, 23, 28, 190))
        self._paint_header(p)
        self._paint_badge(p, target)
        self._paint_score(p)
        if down:
            self._paint_down(p, target)
        if self._drag is not None:
            p.setPen(QPen(QColor(theme.WARN), 2))
            p.drawRect(QRectF(self._drag[0], self._drag[1]).normalized())
        if self.editing_roi:
            p.setPen(QColor(theme.WARN))
            p.drawText(
                self.rect().adjusted(8, 0, -8, -36),
                Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter,
                "ROI edit: drag a rectangle on the image",
            )
        p.end()

    def _paint_header(self, p: QPainter) -> None:
        p.fillRect(QRect(0, 0, self.width(), 26), QColor(theme.RAISED))
        p.fillRect(QRect(0, 0, 5, 26), QColor(self.colour))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(QColor(theme.TEXT))
        p.drawText(
            QRect(12, 0, self.width() - 12, 26), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self.cam
        )
        p.setFont(self.font())
        p.setPen(QColor(theme.MUTED))
        latency = f"{self.latency_ms:.0f} ms" if self.latency_ms is not None else "-- ms"
        p.drawText(
            QRect(0, 0, self.width() - 10, 26),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            f"{self.fps:4.1f} fps   latency {latency}",
        )

    def _paint_badge(self, p: QPainter, target: QRectF) -> None:
        state = self.status.state
        text = (
            state
            if state in ("DOWN", "STARTING", "STOPPED")
            else (self.record.result.verdict.value if self.record else "STARTING")
        )
        colour = theme.verdict_colour(text)
        if text == "UNSURE" and self.record is not None:  # amber, with why: "UNSURE: focus"
            text = f"UNSURE: {self.record.result.reason_code}"
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(max(14.0, min(30.0, self.height() / 14)))
        p.setFont(font)
        metrics = p.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 28, metrics.height() + 10
        badge = QRectF(max(target.x(), 4) + 8, max(target.y(), 30) + 8, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(colour))
        p.drawRoundedRect(badge, 8, 8)
        p.setPen(QColor("white"))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_score(self, p: QPainter) -> None:
        bar = QRectF(10, self.height() - 26, self.width() - 20, 18)
        p.setFont(self.font())
        if self.record is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(bar, Qt.AlignmentFlag.AlignCenter, "waiting for the first part")
            return
        result = self.record.result
        top = max(result.threshold * 2.0, result.score * 1.05, 1e-6)
        text_w = 190.0
        track = QRectF(bar.x(), bar.y() + 5, bar.width() - text_w, 8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.RAISED))
        p.drawRoundedRect(track, 4, 4)
        fill = QRectF(track.x(), track.y(), track.width() * min(result.score / top, 1.0), track.height())
        p.setBrush(QColor(theme.verdict_colour(result.verdict.value)))
        p.drawRoundedRect(fill, 4, 4)
        mark = track.x() + track.width() * result.threshold / top
        p.setPen(QPen(QColor(theme.TEXT), 2))
        p.drawLine(QPointF(mark, bar.y()), QPointF(mark, bar.bottom()))
        p.setPen(QColor(theme.TEXT))
        p.drawText(
            QRectF(track.right() + 8, bar.y(), text_w - 8, bar.height()),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            f"score {result.score:.2f} / {result.threshold:.2f}",
        )

    def _paint_down(self, p: QPainter, target: QRectF) -> None:
        status = self.status
        if status.state == "DOWN":
            lines = [f"Camera {self.cam} is DOWN", status.message]
            if status.countdown_s is not None:
                lines.append(f"Reconnecting in {status.countdown_s:.0f} s")
        elif status.state == "STOPPED":
            lines = ["Camera stopped"]
        else:
            lines = ["Starting camera..."]
        p.setPen(QColor(theme.TEXT))
        p.setFont(self.font())
        p.drawText(
            target.adjusted(12, 40, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "\n".join(lines)
        )

    # ------------------------------------------------------------------ input
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self.editing_roi:
            self._drag = (event.position(), event.position())
        else:
            self.clicked.emit(self.cam)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._drag is not None:
            self._drag = (self._drag[0], event.position())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._drag is None:
            return
        roi = self._to_frame(*self._drag)
        self._drag = None
        self.update()
        if roi is not None:
            self.roiDrawn.emit(self.cam, roi)
