"""The operator's window: camera views, counters, NG gallery, trend, engineer tab, plain-words states."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.gui import theme
from inspector.gui.camera_view import CameraView
from inspector.gui.counters import CountersTable, shift_text
from inspector.gui.engineer import EngineerPanel, PinDialog
from inspector.gui.gallery import NgGallery, PartDialog
from inspector.gui.line_panel import LinePanel
from inspector.gui.retrain import RetrainDialog
from inspector.gui.shadow_panel import ShadowPanel
from inspector.gui.shift_report import ShiftReportDialog
from inspector.gui.trend import TrendView
from inspector.live.record import FrameRecord
from inspector.operator.engineer import threshold_warning
from inspector.operator.line import line_text
from inspector.operator.review import ReviewQueue
from inspector.operator.settings import EngineerLock
from inspector.operator.state import Message, Phase
from inspector.operator.station import LiveStation

log = logging.getLogger("inspector.gui")
FRAME_MS = 20  # drain and draw up to 50 times a second (a 30 FPS camera never waits a tick)
SLOW_MS = 500
NOTICE_S = 60.0  # an important outcome stays on screen this long unless dismissed
PREFERRED_W, PREFERRED_H = 1366, 768
MIN_W, MIN_H = 800, 460  # fits 1366x768 at QT_SCALE_FACTOR 1.5 (910x512 logical) with a window frame
SHORTCUTS = (
    ("F11", "full screen on/off"),
    ("Esc", "leave full screen"),
    ("H", "heatmap on/off"),
    ("[ / ]", "heatmap opacity"),
    ("1-9", "open camera N's current part"),
    ("G", "go to the rejects"),
    ("Ctrl+R", "reset counters (asks first)"),
    ("Ctrl+E", "engineer mode (PIN)"),
    ("Ctrl+L", "lock engineer mode"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit (asks first)"),
)
_INPUT = {QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel, QEvent.Type.TouchBegin}


class MainWindow(QMainWindow):
    """A view over a LiveStation; the station does the work on its own threads."""

    def __init__(
        self,
        station: LiveStation,
        lock: EngineerLock,
        review: ReviewQueue,
        confirm: Callable[[QWidget, str, str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.station, self.lock, self.review = station, lock, review
        self._confirm = confirm or _ask
        self._clock = clock
        self._closing = False  # set once quitting is decided (asked, Ctrl+C/SIGTERM, session end)
        self.setWindowTitle(f"Inspector: {station.config.station}")
        self.setMinimumSize(MIN_W, MIN_H)
        cams = list(station.cameras)
        colours = {cam: theme.CAMERA_COLOURS[i % len(theme.CAMERA_COLOURS)] for i, cam in enumerate(cams)}
        self.views = {cam: CameraView(cam, colours[cam]) for cam in cams}
        self.colours = colours
        self._build()
        self._shortcuts()
        self._notice_until = 0.0
        self.frame_timer = QTimer(self, interval=FRAME_MS)
        self.frame_timer.timeout.connect(self.tick)
        self.slow_timer = QTimer(self, interval=SLOW_MS)
        self.slow_timer.timeout.connect(self.slow_tick)
        self.frame_timer.start()
        self.slow_timer.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.installEventFilter(self)
            if isinstance(app, QGuiApplication):  # the session-manager signal is a GUI application's
                app.commitDataRequest.connect(self.session_ending)  # logout/shutdown: never ask
        self.slow_tick()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)
        outer.addLayout(self._header())
        self.banner = theme.label("", "banner", wrap=True)
        self.banner.hide()
        outer.addWidget(self.banner)
        outer.addWidget(self._notice_row())
        body = QHBoxLayout()
        left = QVBoxLayout()
        grid = QGridLayout()
        grid.setSpacing(6)
        cols = max(1, math.ceil(math.sqrt(len(self.views))))
        for i, view in enumerate(self.views.values()):
            grid.addWidget(view, i // cols, i % cols)
            view.clicked.connect(lambda cam: self.open_part(self.views[cam].record))
            view.roiDrawn.connect(self._roi_drawn)
        left.addLayout(grid, 1)
        self.trend = TrendView(bucket_s=self.station.stats.bucket_s)
        self.trend.setMinimumHeight(130)  # both strips keep room for their three axis labels
        self.trend.setMaximumHeight(150)
        left.addWidget(self.trend)
        body.addLayout(left, 1)
        body.addWidget(self._sidebar())
        outer.addLayout(body, 1)
        self.setCentralWidget(root)
        self.statusBar().showMessage("Starting...")
        self.statusBar().addPermanentWidget(theme.label("F1 shortcuts  \u00b7  F11 full screen  ", "muted"))

    def _header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        title = theme.label(self.station.config.station, "title")
        self.phase_pill = theme.label("STARTING", "pill")
        self.model_label = theme.label("", "muted")
        self.line_label = theme.label("", "muted")  # the running recipe and lot, for the operator
        self.clock = theme.label("", "muted")
        self.engineer_button = QPushButton("Engineer (Ctrl+E)")
        self.engineer_button.clicked.connect(self.open_engineer)
        for widget, stretch in (
            (title, 0),
            (self.phase_pill, 0),
            (self.model_label, 1),
            (self.line_label, 0),
            (self.clock, 0),
            (self.engineer_button, 0),
        ):
            row.addWidget(widget, stretch)
        return row

    def _shadow_retrained(self, path: str) -> None:
        question = f"Judge the live frames with {path} in shadow mode, beside production? (It never judges parts.)"
        if self.shadow_panel is not None and self._confirm(self, "Try the retrained model", question):
            self.shadow_panel.load_candidate(path)

    def _sidebar(self) -> QWidget:
        side = QWidget()
        side.setMinimumWidth(330)
        side.setMaximumWidth(390)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.shift = theme.label("", "muted")
        self.shift.setToolTip("The counters count from the shift start (or the last Reset)")
        self.reset_button = QPushButton("Reset (Ctrl+R)")
        self.reset_button.clicked.connect(lambda: self.reset_counters())
        head.addWidget(self.shift, 1)
        report = QPushButton("Shift report")  # the station's SQLite log, read-only (inspector.gui.shift_report)
        report.clicked.connect(lambda: ShiftReportDialog.for_station(self.station.config, self).show())
        head.addWidget(report)
        head.addWidget(self.reset_button)
        layout.addLayout(head)
        self.counters = CountersTable(list(self.views))
        layout.addWidget(self.counters)
        self.tabs = QTabWidget()
        self.gallery = NgGallery()
        self.gallery.opened.connect(self.open_part)
        self.engineer = EngineerPanel(self.station, self.lock, confirm=self._confirm)
        self.engineer.unlockRequested.connect(self.open_engineer)
        self.engineer.lockRequested.connect(self.lock_engineer)
        self.engineer.roiEdit.connect(self._roi_edit)
        self.engineer.exportRequested.connect(self.export_review)
        self.retrain = RetrainDialog(self.station, self.lock, self.review.root, self, confirm=self._confirm)
        self.engineer.retrainRequested.connect(self.retrain.present)  # its candidateReady names the new bundle
        rejects = QWidget()
        column = QVBoxLayout(rejects)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.gallery.marker)
        column.addWidget(self.gallery, 1)
        self.tabs.addTab(rejects, "Rejects")
        self.tabs.addTab(self.engineer, "Engineer")
        self.line = LinePanel(self.station, self.lock)
        self.tabs.addTab(self.line, "Line")
        self.shadow_panel = ShadowPanel(self.station, self.lock) if self.station.config.shadow else None
        if self.shadow_panel is not None:  # a [shadow] candidate: its live comparison
            self.tabs.addTab(self.shadow_panel, "Shadow")
            self.retrain.candidateReady.connect(self._shadow_retrained)  # a retrained bundle goes to shadow mode
        layout.addWidget(self.tabs, 1)
        return side

    def _shortcuts(self) -> None:
        keys: list[tuple[str, Callable[[], object]]] = [
            ("F11", self.toggle_full_screen),
            ("Esc", self._leave_full_screen),
            ("H", self.toggle_heatmap),
            ("[", lambda: self.change_opacity(-0.1)),
            ("]", lambda: self.change_opacity(0.1)),
            ("Ctrl+R", self.reset_counters),
            ("Ctrl+E", self.open_engineer),
            ("Ctrl+L", self.lock_engineer),
            ("F1", self.show_help),
            ("Ctrl+Q", self.quit),
            ("G", self._focus_gallery),
        ]
        keys += [(str(i + 1), partial(self._open_view_part, cam)) for i, cam in enumerate(list(self.views)[:9])]
        self._keys = [QShortcut(QKeySequence(key), self, fn) for key, fn in keys]

    def _open_view_part(self, cam: str) -> None:
        """Open the part a camera's view shows now (keys 1-9)."""
        self.open_part(self.views[cam].record)

    # ------------------------------------------------------------------ timers
    def tick(self) -> None:
        """Frame timer: drain records, redraw each camera with its newest one."""
        records = self.station.update()
        newest: dict[str, FrameRecord] = {r.camera: r for r in records}
        for cam, record in newest.items():
            view = self.views.get(cam)
            if view is not None:
                view.roi = record.roi  # the ROI this part was inspected with
                view.set_record(record)

    def slow_tick(self) -> None:
        """Twice a second: states, counters, trend, gallery, engineer lock, messages."""
        station = self.station
        station.poll()
        if self.lock.expired():
            self.statusBar().showMessage("Engineer mode locked after inactivity.", 5000)
        down = []
        for cam, view in self.views.items():
            status = station.camera_status(cam)
            view.set_status(status)
            stats = station.stats.cameras[cam]
            view.fps = stats.inspected_rate.rate()
            view.latency_ms = station.stats.median(stats.latency_ms)
            view.update()
            if status.state == "DOWN":
                down.append(status)
        self._show_phase(down)
        self.counters.show_counts(station.stats)
        self.shift.setText(shift_text(station.stats.shift_start))
        self.trend.set_data(
            {cam: (self.colours[cam], list(station.stats.cameras[cam].trend)) for cam in self.views},
            station.threshold,
            station.drift,
        )
        self.gallery.refresh(station.stats.gallery, station.stats.ng_added)
        self.engineer.refresh()
        self.line.refresh()
        if self.shadow_panel is not None:
            self.shadow_panel.refresh()
        self.line_label.setText(line_text(station))
        self.engineer_button.setText("Engineer: ON" if self.lock.unlocked else "Engineer (Ctrl+E)")
        self.clock.setText(time.strftime("%H:%M:%S"))
        while station.messages:
            self._show_message(station.messages.popleft())
        if self.notice_row.isVisible() and self._clock() >= self._notice_until:
            self.notice_row.hide()

    def _show_phase(self, down: list) -> None:
        station = self.station
        phase = station.phase
        label, colour = phase.value, theme.STARTING
        if phase is Phase.RUNNING:
            label, colour = ("CAMERA DOWN", theme.DOWN) if down else ("RUNNING", theme.OK)
        elif phase in (Phase.MODEL_ERROR, Phase.ERROR, Phase.SELF_TEST_FAILED):
            colour = theme.NG
        elif phase is Phase.STOPPED:
            colour = theme.DOWN
        if self.phase_pill.text() != label:
            self.statusBar().showMessage(
                {
                    "RUNNING": f"Inspecting with {len(self.views)} camera(s).",
                    "STARTING": "Starting: loading the model and opening the cameras...",
                }.get(label, ""),
                0 if label == "STARTING" else 8000,
            )
        self.phase_pill.setText(label)
        self.phase_pill.setStyleSheet(f"background: {colour};")
        engine = station.engine
        self.model_label.setText(f"model {engine.bundle.path.name}  threshold {engine.threshold:.3f}" if engine else "")
        problems = []
        if station.error:
            problems.append((theme.NG, station.error))
        for status in down:
            countdown = f" Reconnecting in {status.countdown_s:.0f} s." if status.countdown_s is not None else ""
            problems.append((theme.WARN, status.message + countdown))
        if station.disk_warning:
            problems.append((theme.WARN, station.disk_warning))
        if far := threshold_warning(station):
            problems.append((theme.WARN, f"Threshold {station.threshold:.4g}: {far}."))
        if problems:
            self.banner.setText("  ".join(text for _, text in problems))
            self.banner.setStyleSheet(f"background: {problems[0][0]};")
            self.banner.setToolTip("\n".join(s.detail for s in down if s.detail))
        self.banner.setVisible(bool(problems))

    def _notice_row(self) -> QWidget:
        """A banner for outcomes that must not be missed (a refused model or camera settings)."""
        self.notice_row = QWidget()
        row = QHBoxLayout(self.notice_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.notice = theme.label("", "banner", wrap=True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = QPushButton("OK")
        dismiss.setToolTip("Hide this message")
        dismiss.clicked.connect(self.notice_row.hide)
        row.addWidget(self.notice, 1)
        row.addWidget(dismiss)
        self.notice_row.hide()
        return self.notice_row

    def _show_message(self, message: Message) -> None:
        """Every outcome goes to the status bar; errors and warnings also to the notice banner until OK."""
        self.statusBar().showMessage(message.text, 15000 if message.level == "error" else 6000)
        self.statusBar().setStyleSheet(f"color: {theme.NG if message.level == 'error' else theme.TEXT};")
        if message.level in ("error", "warning"):
            self.notice.setText(message.text)
            self.notice.setStyleSheet(f"background: {theme.NG if message.level == 'error' else theme.WARN};")
            self.notice_row.show()
            self._notice_until = self._clock() + NOTICE_S

    # ------------------------------------------------------------------ actions
    def open_part(self, record: FrameRecord | None) -> PartDialog | None:
        if record is None:
            return None
        classes = self.station.engine.bundle.metadata.class_names if self.station.engine else []
        earlier = self.review.find(record)
        dialog = PartDialog(record, classes, self, marked_as=earlier["label"] if earlier else None)
        dialog.marked.connect(self._mark)
        self.engineer.self_test_box.attach(dialog)  # "Add as golden sample"
        dialog.show()
        return dialog

    def _mark(self, record: FrameRecord, kind: str, label: str) -> None:
        if (role := self.lock.needs("review")) is not None:  # an operator PIN is set: asked first
            dialog = PinDialog(self.lock, self, role=role)
            dialog.accepted.connect(lambda: self._mark(record, kind, label))
            dialog.open()
            return

        def save() -> None:
            item = self.review.add(record, kind, label=label)  # with the part's own ROI, model and threshold
            self.station.messages.append(
                Message("info", f"Saved to the review queue as {item.label} ({len(self.review.rows())} parts waiting).")
            )
            log.info("verdict marked wrong", extra={"fields": {"id": item.id, "kind": kind, "label": item.label}})

        self.station.submit(save)

    def export_review(self) -> None:
        def export() -> None:
            path = self.review.export_manifest()
            self.station.messages.append(Message("info", f"Dataset manifest written: {path}"))

        self.station.submit(export)

    def reset_counters(self) -> bool:
        if not self._confirm(self, "Reset counters", "Start a new shift? The counters and the trend go back to 0."):
            return False
        self.station.stats.reset()
        log.info("counters reset")
        self.slow_tick()
        return True

    def open_engineer(self) -> PinDialog | None:
        if self.lock.unlocked:
            self.tabs.setCurrentWidget(self.engineer)
            return None
        dialog = PinDialog(self.lock, self)
        dialog.accepted.connect(self._unlocked)
        dialog.open()
        return dialog

    def _unlocked(self) -> None:
        self.tabs.setCurrentWidget(self.engineer)
        self.engineer.refresh()

    def lock_engineer(self) -> None:
        self.lock.lock()
        self.engineer.refresh()

    def _roi_edit(self, cam: str, editing: bool) -> None:
        for name, view in self.views.items():
            view.editing_roi = editing and name == cam
            view.update()

    def _roi_drawn(self, cam: str, roi: tuple[int, int, int, int]) -> None:
        if self.lock.unlocked:
            self.engineer.set_roi(cam, roi)
        self._roi_edit(cam, False)

    def toggle_heatmap(self) -> None:
        for view in self.views.values():
            view.set_overlay(not view.show_heatmap, view.opacity)

    def change_opacity(self, delta: float) -> None:
        for view in self.views.values():
            view.set_overlay(view.show_heatmap, min(1.0, max(0.1, view.opacity + delta)))
        self.statusBar().showMessage(f"Heatmap opacity {next(iter(self.views.values())).opacity:.0%}", 2000)

    def show_fitted(self, full_screen: bool = False) -> None:
        """Show at 1366x768 where that fits the screen's free area with a frame, else maximized (any scale)."""
        if full_screen:
            self.showFullScreen()
            return
        screen = self.screen() or QGuiApplication.primaryScreen()
        free = screen.availableGeometry()
        if free.width() >= PREFERRED_W + 16 and free.height() >= PREFERRED_H + 48:
            self.resize(PREFERRED_W, PREFERRED_H)
            self.move(free.center() - self.rect().center())
            self.show()
        else:  # the window manager keeps a maximized window, title bar included, inside the free area
            self.setGeometry(free)
            self.showMaximized()

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _leave_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()

    def _focus_gallery(self) -> None:
        self.tabs.setCurrentWidget(self.gallery)
        self.gallery.setFocus()

    def show_help(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def quit(self) -> None:
        """Ctrl+Q: close, asking first (closeEvent asks)."""
        self.close()

    def close_now(self) -> None:
        """Close without asking: Ctrl+C/SIGTERM in the terminal, the screenshot timer."""
        self._closing = True
        self.close()

    def session_ending(self, *_: object) -> None:
        """The desktop session logs out or shuts down: closing must not wait on a question."""
        self._closing = True

    # ------------------------------------------------------------------ Qt hooks
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in _INPUT:
            self.lock.touch()
        return False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Ask (window manager's close button, Ctrl+Q), then stop the timers and every pipeline thread."""
        if not self._closing:
            if not self._confirm(self, "Quit", "Stop inspecting and close Inspector?"):
                event.ignore()
                return
            self._closing = True
        self.frame_timer.stop()
        self.slow_timer.stop()
        app = QCoreApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
            if isinstance(app, QGuiApplication):
                app.commitDataRequest.disconnect(self.session_ending)
        self.retrain.shutdown()  # a running retrain's child processes stop with the window
        self.station.close()
        event.accept()


def _ask(parent: QWidget, title: str, question: str) -> bool:
    answer = QMessageBox.question(
        parent,
        title,
        question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes
