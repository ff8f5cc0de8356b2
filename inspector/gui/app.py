"""`inspector gui --config station.toml` or `--model BUNDLE --source SRC`; also the GUI of `inspector demo`."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from inspector.errors import InspectorError
from inspector.gui.display import display_problem
from inspector.gui.main_window import MainWindow
from inspector.gui.theme import apply_theme
from inspector.live.config import StationConfig, load_config
from inspector.live.logs import setup_logging
from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.review import ReviewQueue, default_review_dir
from inspector.operator.roles import ROLES, Role
from inspector.operator.settings import (
    MIN_PIN_DIGITS,
    EngineerLock,
    Settings,
    default_settings_path,
)
from inspector.operator.state import Message
from inspector.operator.station import LiveStation

log = logging.getLogger("inspector.gui")
DEMO_PIN = "000000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="station TOML (docs/station-config.md): every camera and sink")
    parser.add_argument("--model", type=Path, help="a model bundle, with --source for one camera")
    parser.add_argument("--source", help="synthetic | a video file | an image folder | a device index | a URL")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second of a synthetic or folder source")
    parser.add_argument("--size", type=int, default=128, help="image side of the synthetic line")
    parser.add_argument("--threshold", type=float, help="override the bundle's threshold")
    parser.add_argument("--settings", type=Path, default=default_settings_path(), help="GUI settings file (PIN)")
    parser.add_argument("--review-dir", type=Path, help="where wrong verdicts are saved (default: a data folder)")
    parser.add_argument(
        "--set-pin",
        action="store_true",
        help="set or change the PIN of --role (asks the admin PIN when one is set, else the old PIN; "
        "the new one twice) and exit",
    )
    parser.add_argument(
        "--reset-pin",
        action="store_true",
        help="set the PIN of --role without the old one (needs write access to --settings; how the "
        "admin PIN is set) and exit",
    )
    parser.add_argument(
        "--role",
        choices=[role.value for role in ROLES],
        default=Role.ENGINEER.value,
        help="whose PIN --set-pin / --reset-pin sets (default: engineer)",
    )
    parser.add_argument("--full-screen", action="store_true", help="start full screen (F11 toggles)")
    parser.add_argument("--lock-after", type=float, default=120.0, help="engineer mode locks after this idle time (s)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    parser.add_argument("--screenshot", type=Path, help="save the screen after --screenshot-after s, then quit")
    parser.add_argument("--screenshot-after", type=float, default=20.0, help=argparse.SUPPRESS)


def station_config(args: argparse.Namespace) -> StationConfig:
    if args.config is not None:
        if args.model or args.source:
            raise InspectorError(
                "--config cannot be combined with --model/--source",
                "either describe the station in the config, or give --model and --source",
            )
        return load_config(args.config)
    if args.model is None or args.source is None:
        raise InspectorError("nothing to inspect", "give --config station.toml, or --model BUNDLE --source SRC")
    camera = source_camera(args.source, fps=args.fps, size=args.size)
    return single_camera_config(args.model, [camera], threshold=args.threshold)


def check_qt_version() -> None:
    """Refuse PySide6 6.12.0 on Python < 3.12: it drops references to None and the GUI aborts after minutes."""
    import PySide6

    if PySide6.__version__ == "6.12.0" and sys.version_info < (3, 12):
        raise InspectorError(
            "PySide6 6.12.0 crashes on Python 3.11 after a few minutes of drawing (none_dealloc)",
            "pip install 'PySide6-Essentials>=6.6,!=6.12.0'",
        )


def make_app() -> QApplication:
    """The QApplication (created once), high-DPI aware, with the dark theme."""
    check_qt_version()
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:  # none yet (a bare QCoreApplication makes the constructor refuse, saying so)
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Inspector")
    apply_theme(app)
    return app


def open_window(
    config: StationConfig,
    settings: Settings,
    review: ReviewQueue,
    *,
    lock_after: float = 120.0,
    full_screen: bool = False,
) -> MainWindow:
    """Start the station in the background and show its window (1366x768 where it fits, else maximized)."""
    station = LiveStation(config, disk_paths=[config.data_dir, review.root])
    window = MainWindow(station, EngineerLock(settings, timeout_s=lock_after), review)
    window.show_fitted(full_screen)
    station.start()
    return window


def _exec(app: QApplication, window: MainWindow) -> int:
    """Run the event loop; Ctrl+C / SIGTERM close the window (and so stop every thread) cleanly."""
    previous = {sig: signal.signal(sig, lambda *_: window.close_now()) for sig in (signal.SIGINT, signal.SIGTERM)}
    wake = QTimer(interval=250)  # lets Python run its signal handlers
    wake.timeout.connect(lambda: None)
    wake.start()
    try:
        return int(app.exec())
    finally:
        wake.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    settings = Settings(args.settings)
    if args.set_pin or args.reset_pin:
        return _set_pin(settings, reset=args.reset_pin, role=Role(args.role))
    config = station_config(args)
    review_root = args.review_dir or (config.data_dir / "review" if args.config else default_review_dir())
    if problem := display_problem():
        raise InspectorError(problem, "then start the GUI again")
    app = make_app()
    window = open_window(
        config, settings, ReviewQueue(review_root), lock_after=args.lock_after, full_screen=args.full_screen
    )
    if args.screenshot:
        QTimer.singleShot(int(args.screenshot_after * 1000), lambda: screenshot(window, args.screenshot))
    return _exec(app, window)


def screenshot(window: MainWindow, path: Path) -> None:
    """Save what the screen shows (the real X screen under Xvfb), then close the window."""
    screen = window.screen()
    picture = screen.grabWindow(0) if screen is not None else window.grab()
    if picture.isNull():
        picture = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(str(path))
    log.info("screenshot saved", extra={"fields": {"path": str(path), "size": f"{picture.width()}x{picture.height()}"}})
    window.close_now()


def run_demo(args: argparse.Namespace, model: Path) -> int:
    """`inspector demo` with a screen: two synthetic cameras, the demo bundle, engineer PIN 0000."""
    setup_logging("info")
    cameras = [source_camera("synthetic", fps=args.fps, cam_id=f"cam{i + 1}", seed=args.seed + i) for i in range(2)]
    config = single_camera_config(model, cameras, station="demo-line")
    settings = Settings(None)
    settings.set_pin(DEMO_PIN)
    app = make_app()
    window = open_window(config, settings, ReviewQueue(default_review_dir() / "demo"))
    window.station.messages.append(Message("info", f"Demo: the engineer PIN is {DEMO_PIN}. F1 lists the shortcuts."))
    return _exec(app, window)


def _set_pin(
    settings: Settings, *, reset: bool = False, role: Role = Role.ENGINEER, ask: Callable[[str], str] = getpass.getpass
) -> int:
    """--set-pin (the admin PIN when one is set and `role` is another, else the old PIN of `role` when one is
    set) or --reset-pin (whoever may write the file: how the admin's own PIN is set)."""
    if reset and settings.path is not None and settings.path.exists() and not os.access(settings.path, os.W_OK):
        raise InspectorError(
            f"{settings.path}: not writable by this account, so its PIN cannot be reset here",
            "run --reset-pin as the account that owns the settings file (or root)",
        )
    admin = ask("admin PIN: ") if not reset and settings.needs_admin(role) else None
    old = ask(f"current {role.value} PIN: ") if not reset and admin is None and settings.has_role_pin(role) else None
    first = ask(f"new {role.value} PIN ({MIN_PIN_DIGITS}+ digits): ")
    if ask("again: ") != first:
        raise InspectorError("the two PINs differ", "run --set-pin again")
    if reset:
        settings.reset_pin(first, role=role)
    else:
        settings.set_pin(first, old=old, role=role, admin_pin=admin)
    print(f"{role.value} PIN saved (scrypt hash) in {settings.path}")
    return 0
