"""A camera failure shows DOWN with a reconnect countdown, and the view recovers when the camera comes back."""

from __future__ import annotations

import threading

from qt_helpers import camera

from inspector.live.sources import SourceError
from inspector.live.sources.synthetic import SyntheticSource


def test_camera_down_then_recovers(qtbot, make_window) -> None:
    broken = threading.Event()
    cfg = camera("cam1", fps=20.0, backoff_initial_s=1.0, backoff_max_s=1.0, read_timeout_s=0.5)

    class Flaky(SyntheticSource):
        def open(self) -> None:
            if broken.is_set():
                raise SourceError("cam1: no such device (cable pulled)")
            super().open()

        def read(self):
            if broken.is_set():
                raise SourceError("cam1: read failed (cable pulled)")
            return super().read()

    window = make_window([cfg], source_factories={"cam1": lambda: Flaky(**cfg.source)})
    view = window.views["cam1"]
    qtbot.waitUntil(lambda: view.record is not None, timeout=10000)
    broken.set()
    qtbot.waitUntil(lambda: view.status.state == "DOWN", timeout=5000)
    assert view.status.countdown_s is not None and 0.0 <= view.status.countdown_s <= 1.0
    assert "No picture from camera cam1" in view.status.message and "cable pulled" in view.status.detail
    assert window.phase_pill.text() == "CAMERA DOWN"
    assert window.banner.isVisible() and "Reconnecting in" in window.banner.text()
    view.grab()  # the DOWN overlay paints without error
    frames = window.station.stats.cameras["cam1"].counts.inspected
    broken.clear()
    qtbot.waitUntil(lambda: view.status.state == "UP", timeout=5000)
    qtbot.waitUntil(lambda: window.station.stats.cameras["cam1"].counts.inspected > frames + 2, timeout=5000)
    window.slow_tick()
    assert window.phase_pill.text() == "RUNNING" and not window.banner.isVisible()
