"""Counters per camera and in total since the shift started: inspected, OK, NG, UNSURE, yield."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from inspector.gui import theme
from inspector.operator.stats import Count, LineStats

COLUMNS = ("camera", "inspected", "OK", "NG", "UNSURE", "yield")
HEADERS = ("camera", "parts", "OK", "NG", "?", "yield")  # short enough for the sidebar at any scale
HEADER_TIPS = {
    1: "parts inspected since the shift start",
    4: "UNSURE: parts that could not be judged (a person must look)",
}


class CountersTable(QTableWidget):
    """One row per camera plus a bold total row."""

    def __init__(self, cameras: list[str], parent: QWidget | None = None) -> None:
        super().__init__(len(cameras) + 1, len(COLUMNS), parent)
        for col, text in enumerate(HEADERS):
            header = QTableWidgetItem(text)
            if col in HEADER_TIPS:
                header.setToolTip(HEADER_TIPS[col])
            self.setHorizontalHeaderItem(col, header)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cameras = cameras
        bold = QFont(self.font())
        bold.setBold(True)
        for row in range(len(cameras) + 1):
            for col in range(len(COLUMNS)):
                item = QTableWidgetItem("")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if row == len(cameras):
                    item.setFont(bold)
                self.setItem(row, col, item)
        rows = len(cameras) + 1
        self.setFixedHeight(self.horizontalHeader().height() + rows * self.verticalHeader().defaultSectionSize() + 4)

    def show_counts(self, stats: LineStats) -> None:
        rows = [(cam, stats.cameras[cam].counts) for cam in self.cameras] + [("total", stats.total())]
        for row, (name, count) in enumerate(rows):
            self._row(row, name, count)

    def _row(self, row: int, name: str, count: Count) -> None:
        yield_pct = count.yield_pct
        values = (
            name,
            str(count.inspected),
            str(count.ok),
            str(count.ng),
            str(count.unsure),
            "--" if yield_pct is None else f"{yield_pct:.1f}%",
        )
        for col, value in enumerate(values):
            item = self._cell(row, col)
            if item.text() != value:
                item.setText(value)
        self._cell(row, 2).setForeground(QColor(theme.OK))
        self._cell(row, 3).setForeground(QColor(theme.NG))
        self._cell(row, 4).setForeground(QColor(theme.UNSURE))

    def cell_text(self, name: str, column: str) -> str:
        row = len(self.cameras) if name == "total" else self.cameras.index(name)
        return self._cell(row, COLUMNS.index(column)).text()

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        item = self.item(row, col)
        if item is None:  # __init__ gives every cell an item
            raise LookupError(f"the counters table has no cell at row {row}, column {col}")
        return item


def shift_text(shift_start: float) -> str:
    """The counters' period, short enough to sit beside the Shift report and Reset buttons at 1366 px."""
    return f"shift since {time.strftime('%H:%M', time.localtime(shift_start))}"
