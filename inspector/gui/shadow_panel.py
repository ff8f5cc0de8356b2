"""The Shadow tab (issue 10 item 4): a `[shadow]` candidate's live comparison with production, its latest
disagreements, and Promote / Rollback / Load candidate behind the engineer PIN. A thin layer over
`inspector.operator.shadow`; drawn on the main window's slow tick."""

from __future__ import annotations

import html
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.gui import theme
from inspector.gui.engineer import PinDialog
from inspector.gui.self_test_box import AskReason, ask_reason
from inspector.operator.line import gui_user
from inspector.operator.roles import Role
from inspector.operator.settings import EngineerLock
from inspector.operator.shadow import Disagreement, ShadowActions, ShadowView, outcome_text
from inspector.operator.station import LiveStation

THUMB = 56
ROWS = (
    "frames compared",
    "skipped (candidate busy)",
    "agreement",
    "production OK, candidate NG",
    "production NG, candidate OK",
)


class ShadowPanel(QWidget):
    """The candidate, the counts, the latest disagreements and the engineer's buttons."""

    def __init__(
        self,
        station: LiveStation,
        lock: EngineerLock,
        parent: QWidget | None = None,
        ask: AskReason | None = None,
        choose_file: Callable[[QWidget], str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.station, self.lock = station, lock
        self.shadow = ShadowActions(station)
        self.ask = ask or ask_reason
        self.choose_file = choose_file or _choose_bundle
        self.view: ShadowView | None = None  # what is drawn now
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.headline = theme.label("", "muted", wrap=True)
        layout.addWidget(self.headline)
        grid = QGridLayout()
        self.values: dict[str, QLabel] = {}
        self._captions: dict[str, QLabel] = {}
        for i, name in enumerate((*ROWS, "other (UNSURE on one side)", "candidate errors")):
            caption, value = theme.label(name, "muted"), QLabel("-")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(caption, i, 0)
            grid.addWidget(value, i, 1)
            self.values[name], self._captions[name] = value, caption
        layout.addLayout(grid)
        layout.addWidget(theme.label("Latest disagreements", "muted"))
        self.recent = QListWidget()
        self.recent.setIconSize(QSize(THUMB, THUMB))
        self.recent.setWordWrap(True)
        self.recent.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent.setMinimumHeight(4 * (THUMB + 6))
        layout.addWidget(self.recent, 1)
        self.outcome = theme.label("", "muted", wrap=True)  # the answer to the latest promote or rollback
        layout.addWidget(self.outcome)
        row = QHBoxLayout()
        self.promote_button = theme.button("Promote...", "primary")
        self.promote_button.setToolTip(
            "Engineer: the golden self-test runs on the candidate first; swapped only if it passes"
        )
        self.promote_button.clicked.connect(lambda: self.promote())
        self.rollback_button = QPushButton("Rollback...")
        self.rollback_button.setToolTip("Engineer: put back the bundle that ran before the promotion")
        self.rollback_button.clicked.connect(lambda: self.rollback())
        self.load_button = QPushButton("Load candidate...")
        self.load_button.setToolTip("Engineer: verify another bundle and let it judge in shadow (no restart)")
        self.load_button.clicked.connect(lambda: self.load_candidate())
        for button in (self.promote_button, self.rollback_button, self.load_button):
            row.addWidget(button)
        layout.addLayout(row)
        self._shown: tuple[Disagreement, ...] = ()
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """The main window's slow tick: the comparison as the station has it now."""
        view = self.view = self.shadow.view()
        if view is None:
            self.headline.setText("No shadow candidate running." if self.station.station else "Starting...")
            for button in (self.promote_button, self.rollback_button, self.load_button):
                button.setEnabled(False)
            self._show_recent(())
            return
        self.headline.setText(html.escape(view.headline()))
        values = dict(view.lines())
        for name, label in self.values.items():
            label.setText(values.get(name, "0"))
            label.setVisible(name in values)
            self._captions[name].setVisible(name in values)
        warn = view.count("OK", "NG") + view.count("NG", "OK")
        self.values["agreement"].setStyleSheet(f"color: {theme.WARN if warn else theme.TEXT}; font-weight: bold;")
        self.promote_button.setEnabled(not view.promoted)
        self.rollback_button.setEnabled(view.can_rollback)
        self.load_button.setEnabled(not view.promoted)
        if (outcome := self.shadow.last_outcome) is not None:
            self.outcome.setText(outcome_text(outcome))
            self.outcome.setStyleSheet(f"color: {theme.OK if outcome.ok else theme.NG};")
        self._show_recent(view.recent)

    def _show_recent(self, recent: tuple[Disagreement, ...]) -> None:
        if recent == self._shown:
            return
        self._shown = recent
        self.recent.clear()
        for item in recent:
            row = QListWidgetItem(item.text())
            if item.image is not None:
                picture = QPixmap(str(item.image))
                if not picture.isNull():
                    row.setIcon(QIcon(picture.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)))
            row.setToolTip(str(item.image or "image not stored"))
            self.recent.addItem(row)

    # ------------------------------------------------------------------ actions
    def _engineer(self, then: Callable[[], object]) -> PinDialog | None:
        """None when the engineer may act now; else the engineer PIN dialog, which does `then` once accepted."""
        if self.lock.allows("shadow"):
            return None
        dialog = PinDialog(self.lock, self, role=Role.ENGINEER)
        dialog.accepted.connect(then)
        dialog.open()
        return dialog

    def _who(self) -> str:
        return gui_user(self.lock.role.value if self.lock.role is not None else "")

    def promote(self) -> Future | PinDialog | None:
        """Engineer PIN, a reason, then the promotion in the background (refused in words when the candidate
        fails the golden self-test)."""
        if (dialog := self._engineer(self.promote)) is not None:
            return dialog
        why = self.ask(self, "Promote the candidate", "Why? (goes into the audit trail)")
        if why is None:
            return None
        self.outcome.setText("Promoting: the golden self-test runs on the candidate...")
        return self.shadow.promote(self._who(), why)

    def rollback(self) -> Future | PinDialog | None:
        if (dialog := self._engineer(self.rollback)) is not None:
            return dialog
        why = self.ask(self, "Roll back", "Why? (goes into the audit trail)")
        if why is None:
            return None
        return self.shadow.rollback(self._who(), why)

    def load_candidate(self, path: str = "") -> Future | PinDialog | None:
        """Judge with bundle `path` (asked in a file dialog when "") in shadow from the next frame on."""
        if (dialog := self._engineer(lambda: self.load_candidate(path))) is not None:
            return dialog
        path = path or self.choose_file(self)
        if not path:
            return None
        return self.shadow.load_candidate(Path(path), self._who())


def _choose_bundle(parent: QWidget) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Load a candidate bundle", "", "Model bundles (*.onnx)")
    return path
