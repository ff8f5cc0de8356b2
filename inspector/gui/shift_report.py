"""The shift report dialog (issue 10 item 3): the station's inspection log, read-only, grouped by shift, lot,
day, recipe or camera, with the numbers of `inspector report`, and an export to its CSV. The work is done by
`inspector.operator.shift_report`; this is the widget."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.errors import InspectorError
from inspector.gui import theme
from inspector.gui.engineer import ComboBox
from inspector.live.config import StationConfig
from inspector.live.report import Group
from inspector.operator.shift_report import BY, PERIODS, ReportRead, ShiftReport, alarm_words, has_alarms, total

POLL_MS = 100
_NUMERIC = range(1, 7)  # parts .. NG %: right-aligned


class ShiftReportDialog(QDialog):
    """Counts, yield, NG by type, UNSURE by reason (and alarms, once the log has them) per group, and a total."""

    def __init__(self, model: ShiftReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Shift report")
        self.resize(1000, 480)
        self.model = model
        self.shown: list[Group] = []  # the groups in the table now (the total row excluded)
        self.reading: ReportRead | None = None  # the read in progress
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.by = ComboBox()
        self.by.addItems(list(BY))
        self.period = ComboBox()
        self.period.addItems(list(PERIODS))
        self.period.setCurrentText("last 7 days")
        for label, combo in (("Group by", self.by), ("Period", self.period)):
            row.addWidget(QLabel(label))
            row.addWidget(combo)
            combo.currentTextChanged.connect(lambda _text: self.reload())
        row.addStretch(1)
        for text, slot in (("Refresh", self.reload), ("Export CSV...", self.export), ("Close", self.close)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
        layout.addLayout(row)
        self.source = theme.label("", "muted", wrap=True)
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.source)
        columns = model.columns()
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.answer = theme.label("", "muted", wrap=True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.answer)
        self.reload()

    @classmethod
    def for_station(cls, config: StationConfig, parent: QWidget | None = None) -> ShiftReportDialog:
        """The report of the station `config` describes (its [sinks.sqlite] log)."""
        return cls(ShiftReport(config), parent)

    def reload(self) -> ReportRead:
        """Read the log again with the chosen grouping and period, in the background (`loaded` once shown)."""
        self.reading = ReportRead(self.model, self.by.currentText(), self.period.currentText())
        self._say(True, "Reading the inspection log...")
        self.timer.start()
        return self.reading

    @property
    def loaded(self) -> bool:
        """The table shows the last read asked for."""
        return self.reading is None

    def poll(self) -> None:
        """Timer: show the read once it is done (a newer read replaces an older one still running)."""
        read = self.reading
        if read is None or not read.done:
            return
        self.timer.stop()
        self.reading = None
        self._show(read)

    def _show(self, read: ReportRead) -> None:
        by, period, groups = read.by, read.period, read.groups
        if read.error is not None:
            self._say(False, f"No report: {read.error.message}. Fix: {read.error.fix}.")
        else:
            self._say(True, f"{len(groups)} group(s) by {by}, {period}." if groups else f"No parts in the {period}.")
        self.shown = groups
        self.source.setText(
            f"Read-only from {self.model.db}. Shifts start at {', '.join(self.model.shifts)}. "
            f"The same report in a terminal: {self.model.command(by, period)}"
            if self.model.db is not None
            else "This station keeps no inspection log ([sinks.sqlite])."
        )
        rows = [*groups, total(groups)] if groups else []
        self.table.setRowCount(len(rows))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for r, group in enumerate(rows):
            for c, text in enumerate(self.model.cells(group)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)  # read-only
                if c in _NUMERIC:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r == len(groups):
                    item.setFont(bold)
                self.table.setItem(r, c, item)
            alarms = self.table.item(r, self.model.columns().index("Alarms")) if has_alarms() else None
            if alarms is not None:
                alarms.setToolTip(alarm_words(group)[1] or "no alarm in this span")

    def cell(self, row: int, column: str) -> str:
        """The text of `column` (a header) in `row` (the total is the last row): what the tests compare."""
        item = self.table.item(row, self.model.columns().index(column))
        return item.text() if item is not None else ""

    def export(self, path: Path | None = None) -> Path | None:
        """Write the groups shown to `path` (asked when None) in the CSV of `inspector report --format csv`."""
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export the shift report", f"report-by-{self.by.currentText()}.csv", "CSV (*.csv)"
            )
            if not chosen:
                return None
            path = Path(chosen)
        try:
            count = self.model.export_csv(self.shown, path)
        except InspectorError as exc:
            self._say(False, f"Not exported: {exc.message}. Fix: {exc.fix}.")
            return None
        self._say(True, f"Exported {count} group(s) to {path} (CSV).")
        return path

    def _say(self, ok: bool, text: str) -> None:
        self.answer.setText(text)
        self.answer.setStyleSheet("" if ok else f"color: {theme.NG}; font-weight: bold;")
