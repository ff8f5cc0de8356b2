"""The engineer panel's golden self-test box (issue 10 item 2): run it now, see what changed, acknowledge a
failure; and the part window's "Add as golden sample". A thin layer over `inspector.operator.self_test`."""

from __future__ import annotations

import html
from collections.abc import Callable
from concurrent.futures import Future

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QInputDialog, QLayout, QPushButton, QVBoxLayout, QWidget

from inspector.gui import theme
from inspector.gui.engineer import PinDialog
from inspector.operator.line import gui_user
from inspector.operator.roles import Role
from inspector.operator.self_test import SelfTestActions
from inspector.operator.settings import EngineerLock
from inspector.operator.state import Message
from inspector.operator.station import LiveStation

AskReason = Callable[[QWidget, str, str], "str | None"]


def ask_reason(parent: QWidget, title: str, question: str) -> str | None:
    """A reason typed by the engineer (None: cancelled)."""
    text, ok = QInputDialog.getText(parent, title, question)
    return text if ok else None


class SelfTestBox(QGroupBox):
    """Run self-test / Acknowledge, with the latest run's outcome (from any trigger), refreshed by the panel."""

    def __init__(
        self, station: LiveStation, lock: EngineerLock, parent: QWidget | None = None, ask: AskReason | None = None
    ) -> None:
        super().__init__("Golden self-test", parent)
        self.station, self.lock = station, lock
        self.golden = SelfTestActions(station)
        self.ask = ask or ask_reason
        column = QVBoxLayout(self)
        self.headline = theme.label("", "muted", wrap=True)
        self.changed = theme.label("", "warning", wrap=True)  # one line per changed sample
        self.changed.hide()
        row = QHBoxLayout()
        self.run_button = theme.button("Run self-test", "primary")
        self.run_button.setToolTip("Run the golden samples through the full pipeline now (in the background)")
        self.run_button.clicked.connect(lambda: self.run_self_test())
        self.ack_button = QPushButton("Acknowledge...")
        self.ack_button.setObjectName("danger")
        self.ack_button.setToolTip("Let the line run despite the failed self-test (engineer PIN, a reason, audited)")
        self.ack_button.clicked.connect(lambda: self.acknowledge())
        row.addWidget(self.run_button)
        row.addWidget(self.ack_button)
        for widget in (self.headline, self.changed):
            column.addWidget(widget)
        column.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        text = self.golden.text()
        colour = "" if text.passed is None else theme.OK if text.passed else theme.NG
        self.headline.setText(
            f"<b style='color:{colour}'>{html.escape(text.headline)}</b>" if colour else html.escape(text.headline)
        )
        self.changed.setText("<br>".join(html.escape(line) for line in text.lines))
        self.changed.setVisible(bool(text.lines))
        self.run_button.setEnabled(not self.golden.running and self.station.station is not None)
        self.ack_button.setEnabled(self.golden.blocked)

    def _engineer(self, then: Callable[[], object]) -> PinDialog | None:
        """None when the engineer may act now; else the engineer PIN dialog, which does `then` once accepted."""
        if self.lock.allows("golden"):
            return None
        dialog = PinDialog(self.lock, self, role=Role.ENGINEER)
        dialog.accepted.connect(then)
        dialog.open()
        return dialog

    def run_self_test(self) -> Future | PinDialog | None:
        """Start a run (trigger "gui") on the control thread; the outcome shows on the next refresh."""
        if (dialog := self._engineer(self.run_self_test)) is not None:
            return dialog
        future = self.golden.run()
        self.refresh()
        return future

    def acknowledge(self) -> bool | PinDialog:
        """Ask the reason, then accept the failed run (audit entry); the PIN dialog first when not unlocked."""
        if not self.golden.blocked:
            return False
        if (dialog := self._engineer(self.acknowledge)) is not None:
            return dialog
        why = self.ask(self, "Acknowledge the failed self-test", "Why may the line run? (goes into the audit trail)")
        if why is None:
            return False
        role = self.lock.role.value if self.lock.role is not None else ""
        ok, text = self.golden.acknowledge(gui_user(role), why)
        self.station.messages.append(Message("info" if ok else "warning", text))
        self.refresh()
        return ok

    def attach(self, dialog: QWidget) -> QPushButton | None:
        """Give a part window (gallery.PartDialog: `record`) an "Add as golden sample" button."""
        record = getattr(dialog, "record", None)
        layout = dialog.layout()
        if record is None or not isinstance(layout, QLayout):
            return None
        expect = record.result.verdict.value
        button = QPushButton(f"Add as golden sample (expect {expect})")
        button.setToolTip("Engineer: this part becomes a reference the self-test must judge the same way")
        button.setEnabled(expect in ("OK", "NG"))

        def add() -> None:
            if self._engineer(add) is not None:
                return
            self.golden.add_sample(record)
            button.setEnabled(False)
            button.setText("Adding to the golden samples...")

        button.clicked.connect(add)
        layout.addWidget(button)
        return button
