"""The Line tab (issue 13): the running recipe (the engineer changes it), the lot (the operator sets it) and the
audit trail viewer. The work is done by `LiveStation` and `inspector.operator.line`; these are the widgets."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.errors import InspectorError
from inspector.gui import theme
from inspector.gui.engineer import ComboBox, PinDialog
from inspector.live.recipes import MAX_LOT, ChangeOutcome
from inspector.operator.line import AUDIT_COLUMNS, EXPORT_FORMATS, AuditTrail, gui_user, outcome_text, running_line
from inspector.operator.settings import EngineerLock
from inspector.operator.station import LiveStation


class LinePanel(QWidget):
    """Recipe selector (role engineer), lot entry (role operator) and the button to the audit trail."""

    def __init__(self, station: LiveStation, lock: EngineerLock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.lock = station, lock
        self._pending: list[tuple[Future, QLabel]] = []
        self._shown_recipe: str | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self._recipe_box())
        layout.addWidget(self._lot_box())
        audit = QPushButton("Audit trail...")
        audit.setToolTip("Every change that affects verdicts: who, when, old and new value, why")
        audit.setEnabled(station.audit_path is not None)
        audit.clicked.connect(self.open_audit)
        layout.addWidget(audit)
        layout.addStretch(1)
        self.refresh()

    def _recipe_box(self) -> QGroupBox:
        group = QGroupBox("Recipe")
        column = QVBoxLayout(group)
        self.recipe_label = QLabel("")
        self.recipes = ComboBox()
        self.recipes.addItems(sorted(self.station.config.recipes))
        self.change_button = theme.button("Change recipe", "primary")
        self.change_button.setToolTip(
            "Engineer PIN. The recipe is verified first; if it is refused the running recipe keeps going"
        )
        self.change_button.clicked.connect(lambda: self.select_recipe())
        if not self.station.config.recipes:
            self.recipes.addItem("(no [recipes] in the station config)")
            self.recipes.setEnabled(False)
            self.change_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.recipes, 1)
        row.addWidget(self.change_button)
        self.recipe_result = theme.label("", "muted", wrap=True)
        column.addWidget(self.recipe_label)
        column.addLayout(row)
        column.addWidget(self.recipe_result)
        return group

    def _lot_box(self) -> QGroupBox:
        group = QGroupBox("Lot")
        column = QVBoxLayout(group)
        self.lot_label = QLabel("")
        self.lot_edit = QLineEdit(placeholderText="lot or batch id", maxLength=MAX_LOT)
        self.lot_edit.returnPressed.connect(lambda: self.set_lot())
        self.lot_button = QPushButton("Set")
        self.lot_button.setToolTip("Stamped on every result from the next part on (empty: no lot)")
        self.lot_button.clicked.connect(lambda: self.set_lot())
        row = QHBoxLayout()
        row.addWidget(self.lot_edit, 1)
        row.addWidget(self.lot_button)
        self.lot_result = theme.label("", "muted", wrap=True)
        column.addWidget(self.lot_label)
        column.addLayout(row)
        column.addWidget(self.lot_result)
        return group

    # ------------------------------------------------------------------ actions
    def select_recipe(self, name: str | None = None) -> Future | None:
        """Ask the station to switch to `name` (default: the one chosen); the engineer PIN is asked first."""
        name = self.recipes.currentText() if name is None else name
        if not self._allowed("recipe", lambda: self.select_recipe(name)):
            return None
        self.recipe_result.setText(f"Checking recipe {name}...")
        future = self.station.select_recipe(name, who=self._who(), why="GUI recipe selector")
        self._pending.append((future, self.recipe_result))
        return future

    def set_lot(self, lot: str | None = None) -> Future | None:
        """Ask the station to stamp `lot` (default: the edit's text) from the next part on."""
        lot = self.lot_edit.text() if lot is None else lot
        if not self._allowed("lot", lambda: self.set_lot(lot)):
            return None
        future = self.station.set_lot(lot, who=self._who(), why="GUI lot entry")
        self._pending.append((future, self.lot_result))
        return future

    def _allowed(self, action: str, retry: Callable[[], object]) -> bool:
        """True when the unlocked role may do `action`; else the PIN dialog of the role it needs (then `retry`)."""
        role = self.lock.needs(action)
        if role is None:
            return True
        dialog = PinDialog(self.lock, self, role=role)
        dialog.accepted.connect(retry)
        dialog.open()
        return False

    def _who(self) -> str:
        return gui_user(self.lock.role.value if self.lock.role is not None else "")

    def open_audit(self) -> AuditViewer:
        viewer = AuditViewer(AuditTrail(self.station.audit_path), self)
        viewer.show()
        return viewer

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """Main window's slow timer: the running recipe and lot, and the answers that came back."""
        recipe, lot = running_line(self.station)
        self.recipe_label.setText(f"Running: <b>{recipe or '(station default)'}</b>")
        self.lot_label.setText(f"Lot: <b>{lot or '(none)'}</b>")
        if recipe != self._shown_recipe and recipe in self.station.config.recipes:
            self._shown_recipe = recipe  # the choice follows a change made here, by the PLC or the CLI
            self.recipes.setCurrentText(recipe)
        for future, label in [p for p in self._pending if p[0].done()]:
            self._pending.remove((future, label))
            outcome = future.result()
            if isinstance(outcome, ChangeOutcome):
                label.setText(outcome_text(outcome))
                label.setObjectName("muted" if outcome.ok else "warning")
                label.style().polish(label)
                if not outcome.ok and outcome.kind == "recipe" and recipe in self.station.config.recipes:
                    self.recipes.setCurrentText(recipe)  # refused: show the one that keeps running


class AuditViewer(QDialog):
    """The audit trail, read-only: one row per entry, the chain verified on request, exported as CSV or JSON."""

    def __init__(self, trail: AuditTrail, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Audit trail")
        self.resize(900, 480)
        self.trail = trail
        layout = QVBoxLayout(self)
        self.path_label = theme.label(str(trail.path or "no audit trail (no station config)"), "muted")
        self.table = QTableWidget(0, len(AUDIT_COLUMNS))
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in AUDIT_COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.answer = theme.label("", "muted", wrap=True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        for text, slot in (
            ("Reload", self.reload),
            ("Verify chain", self.verify),
            ("Export...", self.export),
            ("Close", self.close),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
        layout.addWidget(self.path_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.answer)
        layout.addLayout(row)
        self.reload()

    def reload(self) -> None:
        """Read the log again (newest last)."""
        try:
            rows = self.trail.rows()
        except InspectorError as exc:
            self._say(False, f"{exc.message}. Fix: {exc.fix}.")
            rows = []
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row.cells()):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)  # read-only
                self.table.setItem(r, c, item)
        self.table.scrollToBottom()

    def verify(self) -> bool:
        """Check the hash chain (as `inspector audit verify`); the answer is shown below the table."""
        ok, text = self.trail.verify()
        self._say(ok, text)
        return ok

    def export(self, path: Path | None = None, fmt: str | None = None) -> Path | None:
        """Write every entry to `path` (asked when None) as CSV or JSON (`fmt`; default from the file name)."""
        if path is None:
            chosen, selected = QFileDialog.getSaveFileName(
                self, "Export the audit trail", "audit.csv", ";;".join(EXPORT_FORMATS.values())
            )
            if not chosen:
                return None
            path = Path(chosen)
            fmt = fmt or next((k for k, v in EXPORT_FORMATS.items() if v == selected), None)
        fmt = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
        try:
            count = self.trail.export(path, fmt)
        except InspectorError as exc:
            self._say(False, f"Not exported: {exc.message}. Fix: {exc.fix}.")
            return None
        self._say(True, f"Exported {count} entries to {path} ({fmt.upper()}).")
        return path

    def _say(self, ok: bool, text: str) -> None:
        self.answer.setText(text)
        self.answer.setStyleSheet("" if ok else f"color: {theme.NG}; font-weight: bold;")
