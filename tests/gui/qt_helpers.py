"""Helpers and fixtures of the GUI tests (conftest.py loads them only when PySide6 and pytest-qt are installed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import DEMO, REPO, FakeClock, record  # noqa: F401 (re-exported to the GUI tests)
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from inspector.gui.main_window import MainWindow
from inspector.live.config import CameraConfig, StationConfig
from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.review import ReviewQueue
from inspector.operator.settings import EngineerLock, Settings
from inspector.operator.station import LiveStation

PIN = "246813"


def flush_deletes() -> None:
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
        app.sendPostedEvents(None, QEvent.DeferredDelete)


def leaked_threads(before: set[threading.Thread], wait_s: float = 3.0) -> list[str]:
    """Names of threads started since `before` that are still alive after up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.05)


def leaked_widgets(before: set[int]) -> list[str]:
    """Top-level widgets created since `before` (ids) that still exist after deferred deletes ran."""
    flush_deletes()
    return [type(w).__name__ for w in QApplication.topLevelWidgets() if id(w) not in before]


@pytest.fixture()
def no_leaks(qapp) -> Iterator[None]:
    """Fails the test when it leaves a thread running or a top-level widget alive."""
    threads_before = set(threading.enumerate())
    widgets_before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    widgets = leaked_widgets(widgets_before)
    threads = leaked_threads(threads_before)
    assert not threads, f"threads left running: {threads}"
    assert not widgets, f"top-level widgets left alive: {widgets}"


def camera(cam_id: str, *, fps: float = 15.0, ng_rate: float = 0.3, seed: int = 0, **overrides) -> CameraConfig:
    cfg = source_camera("synthetic", fps=fps, cam_id=cam_id, seed=seed)
    return CameraConfig.model_validate(cfg.table(source={"ng_rate": ng_rate}, **overrides))


@pytest.fixture()
def make_window(qtbot, no_leaks, tmp_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """Build, show and start a window; every window still open is closed (threads joined) at teardown."""
    windows: list[MainWindow] = []

    def build(
        cameras: list[CameraConfig] | None = None,
        *,
        clock: FakeClock | None = None,
        source_factories: dict | None = None,
        confirm: Callable | None = None,
        **station_kw,
    ) -> MainWindow:
        config = single_camera_config(DEMO, cameras or [camera("cam1")], station="test-line")
        settings = Settings(tmp_path / "gui.json")
        if not settings.has_pin:
            settings.set_pin(PIN)
        station = LiveStation(config, source_factories=source_factories, disk_paths=[tmp_path], **station_kw)
        lock = EngineerLock(settings, timeout_s=60.0, clock=clock or time.monotonic)
        window = MainWindow(station, lock, ReviewQueue(tmp_path / "review"), confirm=confirm or (lambda *a: True))
        window.resize(1366, 768)
        window.show()
        station.start()
        windows.append(window)
        return window

    yield build
    for window in windows:
        if window.station.phase.value != "STOPPED":
            window.close_now()
    flush_deletes()


def wait_records(qtbot, window: MainWindow, n: int = 1, timeout: int = 15000) -> None:
    qtbot.waitUntil(lambda: window.station.stats.total().inspected >= n, timeout=timeout)


def unlock(window: MainWindow) -> None:
    """Open engineer mode with the test PIN."""
    from inspector.gui.engineer import PinDialog

    dialog = window.open_engineer()
    assert isinstance(dialog, PinDialog)
    dialog.pin.setText(PIN)
    dialog.try_pin()


@pytest.fixture()
def open_station(qtbot, no_leaks, tmp_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """Start a window on a station config (as `inspector gui --config` does); closed at teardown."""
    windows: list[MainWindow] = []

    def build(config: StationConfig) -> MainWindow:
        settings = Settings(tmp_path / "gui.json")
        if not settings.has_pin:
            settings.set_pin(PIN)
        station = LiveStation(config, disk_paths=[tmp_path])
        window = MainWindow(
            station, EngineerLock(settings, timeout_s=60.0), ReviewQueue(tmp_path / "review"), confirm=lambda *a: True
        )
        window.resize(1366, 768)
        window.show()
        station.start()
        windows.append(window)
        qtbot.waitUntil(lambda: station.phase.value in ("RUNNING", "MODEL ERROR", "SELF-TEST FAILED"), timeout=30000)
        return window

    yield build
    for window in windows:
        if window.station.phase.value != "STOPPED":
            window.close_now()
    flush_deletes()
