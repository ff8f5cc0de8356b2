"""The engineer's "Retrain from the review queue" dialog (issue 10 item 6): pick the training data and an
output folder, run `inspector train --add-reviewed` and `inspector export` as child processes (the GUI never
loads torch), watch their output, cancel, and hand the candidate bundle on to shadow mode. The work is done
by `inspector.operator.retrain.RetrainJob`; this is the widget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.errors import InspectorError
from inspector.gui import theme
from inspector.gui.engineer import PinDialog
from inspector.operator.line import gui_user
from inspector.operator.retrain import RetrainJob, RetrainPlan, Step, default_out, remember, remembered
from inspector.operator.settings import EngineerLock
from inspector.operator.state import Message
from inspector.operator.station import LiveStation

POLL_MS = 200
NEXT_STEP = (
    "Next: run it in shadow mode beside production (the Shadow panel's candidate, or [shadow] model = "
    '"<this file>" in the station config and a restart), compare, then promote (docs/improvement-loop.md).'
)


class RetrainDialog(QDialog):
    """Kept by the main window (closing hides it); `candidateReady` carries the bundle path on success."""

    candidateReady = Signal(str)

    def __init__(
        self,
        station: LiveStation,
        lock: EngineerLock,
        queue: Path,
        parent: QWidget | None = None,
        *,
        confirm: Callable[[QWidget, str, str], bool] | None = None,
        program: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain from the review queue")
        self.resize(760, 520)
        self.station, self.lock, self.queue = station, lock, Path(queue)
        self._confirm = confirm or (lambda *_: True)
        self.program, self.env = program, env  # what runs `inspector` (None: this Python; tests: a stand-in)
        self.job: RetrainJob | None = None
        self._seen = 0
        last = remembered(lock.settings)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.data = QLineEdit(last.get("data", ""), placeholderText="the dataset folder the model was trained on")
        self._offered = str(default_out(Path(last.get("out_parent") or station.config.data_dir / "retrain")))
        self.out = QLineEdit(self._offered)  # a new folder named by the time it is offered
        self.options = QLineEdit(last.get("options", ""), placeholderText="more `inspector train` options (optional)")
        form.addRow("Training data", self._with_browse(self.data, "Choose the training data folder"))
        form.addRow("Review queue", theme.label(str(self.queue), "muted"))
        form.addRow("Output folder", self._with_browse(self.out, "Choose a new folder for the run"))
        form.addRow("Train options", self.options)
        layout.addLayout(form)
        self.command = theme.label("", "muted", wrap=True)
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.command)
        self.output = QPlainTextEdit(readOnly=True)
        self.output.setMaximumBlockCount(2000)
        layout.addWidget(self.output, 1)
        self.status = theme.label("Engineer PIN. Training runs beside the line; the line keeps inspecting.", "muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.start_button = theme.button("Start", "primary")
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = theme.button("Cancel retraining", "danger")
        self.cancel_button.clicked.connect(self.cancel)
        self.copy_button = QPushButton("Copy candidate path")
        self.copy_button.clicked.connect(self._copy_candidate)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        for button in (self.start_button, self.cancel_button, self.copy_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        for edit in (self.data, self.out, self.options):
            edit.textChanged.connect(self._show_command)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._show_command()
        self._buttons()

    def present(self) -> None:
        """Show the dialog (with a running retrain's progress, when one runs) in front."""
        if not self.running and self.out.text() == self._offered:  # untouched: named by the time it opens
            self._offer(Path(self._offered).parent)
        self.show()
        self.raise_()
        self.activateWindow()

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        browse = QPushButton("Browse...")
        browse.clicked.connect(lambda: self._browse(edit, title))
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return box

    def _browse(self, edit: QLineEdit, title: str) -> None:
        chosen = QFileDialog.getExistingDirectory(self, title, edit.text())
        if chosen:
            edit.setText(chosen)

    def plan(self) -> RetrainPlan:
        """The plan of the fields now (InspectorError for an empty folder or unreadable options)."""
        return RetrainPlan.parse(self.data.text(), self.queue, self.out.text(), self.options.text())

    def _show_command(self) -> None:
        try:
            text = self.plan().command_text()
        except InspectorError as exc:
            text = f"{exc.message} ({exc.fix})"
        self.command.setText(f"Runs: {text}")

    # ------------------------------------------------------------------ actions
    def start(self) -> RetrainJob | None:
        """Check the fields and start the job (the engineer PIN first when locked); None when not started."""
        if self.running:
            return None
        if (role := self.lock.needs("retrain")) is not None:
            dialog = PinDialog(self.lock, self, role=role)
            dialog.accepted.connect(lambda: self.start())
            dialog.open()
            return None
        try:
            plan = self.plan()
            plan.check()
        except InspectorError as exc:
            self._say(False, f"Not started: {exc.message}. Fix: {exc.fix}.")
            return None
        remember(self.lock.settings, plan)
        who = gui_user(self.lock.role.value if self.lock.role is not None else "")
        self.job = RetrainJob(plan, program=self.program, env=self.env, audit_path=self.station.audit_path, who=who)
        self.output.clear()
        self._seen = 0
        self.job.start()
        self.timer.start()
        self._say(True, self.job.outcome())
        self._buttons()
        return self.job

    def cancel(self) -> None:
        """Stop the running child processes (no candidate is written)."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10.0)
            self.poll()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def poll(self) -> None:
        """Timer: new output lines, the step in words; at the end, the outcome and the candidate."""
        job = self.job
        if job is None:
            return
        lines, self._seen = job.lines_after(self._seen)
        for line in lines:
            self.output.appendPlainText(line)
        finished = job.step.finished
        if not finished:
            self._say(True, job.outcome())
            return
        self.timer.stop()
        ok = job.step is Step.DONE
        self._say(ok, job.outcome() + (f"\n{NEXT_STEP}" if ok else ""))
        self._buttons()
        if ok and job.candidate is not None:
            self.station.messages.append(Message("info", f"Retrained: candidate bundle {job.candidate}."))
            self.candidateReady.emit(str(job.candidate))
        elif job.step in (Step.FAILED, Step.NOT_INSTALLED):
            self.station.messages.append(Message("warning", job.outcome()))
        if job.plan.out.exists():  # a next retrain needs a new folder: offer one beside this run
            self._offer(job.plan.out.parent)

    def _offer(self, parent: Path) -> None:
        self._offered = str(default_out(parent))
        self.out.setText(self._offered)

    def shutdown(self) -> None:
        """The main window closes: stop a running retrain without asking."""
        self.timer.stop()
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10.0)

    def _copy_candidate(self) -> None:
        if self.job is not None and self.job.candidate is not None:
            QGuiApplication.clipboard().setText(str(self.job.candidate))

    def _buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.copy_button.setEnabled(self.job is not None and self.job.candidate is not None)
        for edit in (self.data, self.out, self.options):
            edit.setReadOnly(running)

    def _say(self, ok: bool, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("" if ok else f"color: {theme.NG}; font-weight: bold;")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing while a retrain runs asks whether to stop it; No keeps the dialog open."""
        if self.running:
            if not self._confirm(self, "Retraining", "Retraining is running. Stop it?"):
                event.ignore()
                return
            self.cancel()
        event.accept()
