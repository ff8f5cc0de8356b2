"""The NG gallery (last N rejects) and the part detail dialog where the operator marks a wrong verdict."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout, QWidget)

from inspector.gui import theme
from inspector.gui.review import ESCAPE, FALSE_REJECT
from inspector.live.record import FrameRecord

THUMB = 96


def composite(record: FrameRecord, heatmap: bool = True, opacity: float = 0.55,
              roi: tuple[int, int, int, int] | None = None, side: int | None = None) -> QImage:
    """The frame (fitted into side x side when given) with its heatmap over the inspected area."""
    image = record.image if record.image is not None else np.zeros((64, 64, 3), np.uint8)
    size = theme.fit(image.shape, side, side) if side else (image.shape[1], image.shape[0])
    result = record.result
    heat = result.anomaly_map if heatmap else None
    return theme.to_qimage(theme.render(image, heat, result.threshold, opacity, roi, size))


def clock_text(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


class NgGallery(QListWidget):
    """Thumbnails of the newest rejects, newest first; `opened` carries the clicked record."""

    opened = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 16, THUMB + 40))
        self.setResizeMode(QListWidget.Adjust)
        self.setMovement(QListWidget.Static)
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setToolTip("Last rejected parts: click one to see why (Enter opens the selected one)")
        self._records: list[FrameRecord] = []
        self._shown = -1
        self.itemClicked.connect(self._open)
        self.itemActivated.connect(self._open)

    def refresh(self, records: Sequence[FrameRecord], version: int,
                roi_of: Callable[[str], tuple[int, int, int, int] | None]) -> None:
        """Add the rejects that came since the last call (`version` counts NG parts ever added) at the top."""
        new = min(version - self._shown, len(records)) if self._shown >= 0 else len(records)
        self._shown = version
        if new <= 0:
            return
        self.setUpdatesEnabled(False)  # one relayout for the batch, not one per thumbnail
        for record in list(records)[-new:]:
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap.fromImage(composite(record, roi=roi_of(record.camera), side=round(THUMB * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            text = f"{record.camera} {clock_text(record.captured_at)}\n{record.result.score:.1f}"
            item = QListWidgetItem(QIcon(pixmap), text)
            item.setForeground(QColor(theme.TEXT))
            item.setToolTip(f"{record.camera} frame {record.frame_id}, score {record.result.score:.3f}")
            self.insertItem(0, item)
            self._records.insert(0, record)
        limit = records.maxlen if isinstance(records, deque) and records.maxlen else len(self._records)
        while len(self._records) > limit:
            self._records.pop()
            self.takeItem(self.count() - 1)
        self.setUpdatesEnabled(True)

    def _open(self, item: QListWidgetItem) -> None:
        row = self.row(item)
        if 0 <= row < len(self._records):
            self.opened.emit(self._records[row])


class PartDialog(QDialog):
    """The full image with heatmap, score, class and time; buttons to mark the verdict wrong."""

    marked = Signal(object, str, str)  # record, kind, label

    def __init__(self, record: FrameRecord, classes: Sequence[str], roi: tuple[int, int, int, int] | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.record, self.roi = record, roi
        result = record.result
        self.setWindowTitle(f"{record.camera} frame {record.frame_id}: {result.verdict.value}")
        layout = QVBoxLayout(self)
        self.image = QLabel(alignment=Qt.AlignCenter)
        self.image.setMinimumSize(360, 360)
        layout.addWidget(self.image, 1)
        self.heat = QCheckBox("Show heatmap (H)", checked=True)
        self.heat.setShortcut("H")
        self.heat.toggled.connect(self._draw)
        info = QLabel(
            f"<b style='color:{theme.verdict_colour(result.verdict.value)}; font-size:18pt'>{result.verdict.value}"
            f"</b>&nbsp;&nbsp; score <b>{result.score:.3f}</b> (threshold {result.threshold:.3f})<br>"
            f"class: <b>{result.predicted_class or 'n/a'}</b> &nbsp; camera {record.camera}, frame "
            f"{record.frame_id}, {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record.captured_at))}")
        info.setTextFormat(Qt.RichText)
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
