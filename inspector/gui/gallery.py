"""The NG gallery (last N rejects) and the part detail dialog where the operator marks a wrong verdict."""

from __future__ import annotations

import html
import time
from collections import deque
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QEnterEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.gui import theme
from inspector.live.record import FrameRecord
from inspector.operator.review import ESCAPE, FALSE_REJECT

THUMB = 96


def composite(
    record: FrameRecord,
    heatmap: bool = True,
    opacity: float = 0.55,
    roi: tuple[int, int, int, int] | None = None,
    side: int | None = None,
) -> QImage:
    """The frame (fitted into side x side when given) with its heatmap over the inspected area."""
    image = record.image if record.image is not None else np.zeros((64, 64, 3), np.uint8)
    size = theme.fit(image.shape, side, side) if side else (image.shape[1], image.shape[0])
    result = record.result
    heat = result.anomaly_map if heatmap else None
    return theme.to_qimage(theme.render(image, heat, result.threshold, opacity, roi, size))


def clock_text(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


class NgGallery(QListWidget):
    """Thumbnails of the newest rejects, newest first; `opened` carries the clicked record.

    The grid never moves under the operator: while the pointer is over it or an item is selected, new
    rejects wait behind the `marker` button ("3 new rejects: show") and are added when the pointer
    leaves and nothing is selected, or when the marker is clicked.
    """

    opened = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        lines = self.fontMetrics()
        width = max(THUMB, lines.horizontalAdvance("camera-12  00:00:00")) + 12
        self.setGridSize(QSize(width, THUMB + 2 * lines.lineSpacing() + 14))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setUniformItemSizes(True)
        self.setToolTip("Last rejected parts: click one to see why (Enter opens the selected one)")
        self.marker = theme.button("", "primary")
        self.marker.setToolTip("New rejects wait here while you point at or select one")
        self.marker.clicked.connect(self.show_new)
        self.marker.hide()
        self._shown = -1
        self._source: tuple[Sequence[FrameRecord], int] = ((), -1)
        self._hover = False
        self.itemClicked.connect(self._open)
        self.itemActivated.connect(self._open)

    @property
    def pending(self) -> int:
        """Rejects that arrived and wait behind the marker."""
        records, version = self._source
        return 0 if self._shown < 0 else min(version - self._shown, len(records))

    def frozen(self) -> bool:
        """True while the operator points at the grid or has selected a thumbnail."""
        return self._hover or (self.hasFocus() and bool(self.selectedItems()))

    def refresh(self, records: Sequence[FrameRecord], version: int) -> None:
        """Note the rejects so far (`version` counts NG parts ever added); add the new ones unless frozen."""
        self._source = (records, version)
        if self.frozen() and self._shown >= 0:
            n = self.pending
            self.marker.setText(f"{n} new reject{'s' if n != 1 else ''}: show")
            self.marker.setVisible(n > 0)
            return
        self._add_new()

    def show_new(self) -> None:
        """The marker's action: drop the selection, add the waiting rejects at the top, scroll up."""
        self.clearSelection()
        self._add_new()
        self.scrollToTop()

    def _add_new(self) -> None:
        records, version = self._source
        new = self.pending if self._shown >= 0 else len(records)
        self._shown = version
        self.marker.hide()
        if new <= 0:
            return
        self.setUpdatesEnabled(False)  # one relayout for the batch, not one per thumbnail
        ratio = self.devicePixelRatioF()
        for record in list(records)[-new:]:
            pixmap = QPixmap.fromImage(composite(record, roi=record.roi, side=round(THUMB * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            result = record.result
            second = f"UNSURE: {result.reason_code}" if result.is_unsure else f"score {result.score:.1f}"
            if result.defect_type:  # the station typer's name for an NG part
                second = f"{result.defect_type}  {second}"
            item = QListWidgetItem(QIcon(pixmap), f"{record.camera}  {clock_text(record.captured_at)}\n{second}")
            item.setForeground(QColor(theme.UNSURE if result.is_unsure else theme.TEXT))
            item.setToolTip(f"{record.camera} frame {record.frame_id}, score {record.result.score:.3f}")
            item.setData(Qt.ItemDataRole.UserRole, record)
            self.insertItem(0, item)
        limit = records.maxlen if isinstance(records, deque) and records.maxlen else self.count()
        while self.count() > limit:
            self.takeItem(self.count() - 1)
        self.setUpdatesEnabled(True)

    def record_at(self, row: int) -> FrameRecord | None:
        item = self.item(row)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802 (Qt API)
        self._hover = True
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self._hover = False
        super().leaveEvent(event)

    def _open(self, item: QListWidgetItem) -> None:
        record = item.data(Qt.ItemDataRole.UserRole)
        if record is not None:
            self.opened.emit(record)


class PartDialog(QDialog):
    """The full image with heatmap, score, class and time; buttons to mark the verdict wrong."""

    marked = Signal(object, str, str)  # record, kind, label

    def __init__(
        self, record: FrameRecord, classes: Sequence[str], parent: QWidget | None = None, marked_as: str | None = None
    ) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.record, self.roi = record, record.roi  # the ROI the model saw, not the camera's current one
        result = record.result
        self.setWindowTitle(f"{record.camera} frame {record.frame_id}: {result.verdict.value}")
        layout = QVBoxLayout(self)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(360, 360)
        layout.addWidget(self.image, 1)
        self.heat = QCheckBox("Show heatmap (H)")
        self.heat.setChecked(True)
        self.heat.setShortcut("H")
        self.heat.toggled.connect(self._draw)
        self.info = info = QLabel(
            f"<b style='color:{theme.verdict_colour(result.verdict.value)}; font-size:18pt'>{result.verdict.value}"
            f"</b>&nbsp;&nbsp; score <b>{result.score:.3f}</b> (threshold {result.threshold:.3f})<br>"
            + (
                f"can't judge: <b>{result.reason_code}</b> ({html.escape(result.reason_detail)})<br>"
                if result.is_unsure
                else ""
            )
            + (
                f"defect type: <b>{html.escape(result.defect_type)}</b> "
                f"(p {result.defect_type_probability or 0:.2f})<br>"
                if result.defect_type
                else ""
            )
            + f"class: <b>{result.predicted_class or 'n/a'}</b> &nbsp; camera {record.camera}, frame "
            f"{record.frame_id}, {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record.captured_at))}<br>"
            f"model {result.model_fingerprint[:12]}, inspected "
            f"{f'ROI {list(record.roi)}' if record.roi else 'the whole frame'}"
        )
        info.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(info)
        layout.addWidget(self.heat)
        row = QHBoxLayout()
        if result.is_ng:
            self.mark = QPushButton("Wrong: this part is GOOD (false reject)")
            self.mark.clicked.connect(lambda: self._mark(FALSE_REJECT, "good"))
            row.addWidget(self.mark)
        else:
            self.label = QComboBox()
            self.label.addItems([c for c in classes if c != "good"] or ["defect"])
            self.label.setToolTip("The defect this part has")
            self.mark = QPushButton("Wrong: this part is DEFECTIVE (escape)")
            self.mark.clicked.connect(lambda: self._mark(ESCAPE, self.label.currentText()))
            row.addWidget(self.label)
            row.addWidget(self.mark)
        self.mark.setObjectName("danger")
        if marked_as is not None:
            self.mark.setToolTip(f"Already in the review queue as {marked_as}: marking again replaces that")
            row.insertWidget(0, theme.label(f"In the review queue as <b>{marked_as}</b>", "muted"))
        close = QPushButton("Close (Esc)")
        close.clicked.connect(self.close)
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        self.resize(620, 640)
        self._draw()

    def _draw(self) -> None:
        side = max(min(self.image.width(), self.image.height()), 360)
        self.image.setPixmap(QPixmap.fromImage(composite(self.record, self.heat.isChecked(), roi=self.roi, side=side)))

    def _mark(self, kind: str, label: str) -> None:
        self.marked.emit(self.record, kind, label)
        self.mark.setEnabled(False)
        self.mark.setText("Saved to the review queue")
