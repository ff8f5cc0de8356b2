"""The camera runner with real threads: timeouts, DOWN + capped backoff, no substitute frame, triggers."""

from __future__ import annotations

import io
import logging
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest_services import colour_frames
from test_sources import FakeClock, write_video

from inspector.live.camera import Camera, CameraState, Frame, is_blank
from inspector.live.config import CameraConfig
from inspector.live.logs import setup_logging
from inspector.live.sources import Source, SourceError, create_source


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Collector:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)


class ScriptedSource(Source):
    """A real source whose connections follow a script: good frames, then a stall, a blank, a hang or death."""

    live = True

    def __init__(self, frames: list[np.ndarray], after: str, hang_s: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frames, self.after, self.hang_s, self.i = frames, after, hang_s, 0
        self.closed = threading.Event()

    def read(self) -> np.ndarray:
        time.sleep(0.005)
        if self.i < len(self.frames):
            self.i += 1
            return self.frames[self.i - 1]
        if self.after == "repeat":  # a stalled capture hands back its last buffer
            return self.frames[-1]
        if self.after == "blank":
            return np.zeros_like(self.frames[0])
        if self.after == "hang":
            time.sleep(self.hang_s)
            return self.frames[0]
        raise SourceError("device unplugged")

    def close(self) -> None:
        self.closed.set()


def cam_config(**overrides) -> CameraConfig:
    base = {
        "id": "cam1",
        "kind": "synthetic",
        "source": {},
        "max_fps": 1000.0,
        "read_timeout_s": 0.3,
        "open_timeout_s": 1.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    base.update(overrides)
    return CameraConfig(**base)


@pytest.mark.parametrize("after", ["repeat", "blank", "hang", "die"])
def test_bad_capture_goes_down_reconnects_and_never_passes_a_substitute(after: str) -> None:
    made: list[ScriptedSource] = []

    def factory() -> Source:
        made.append(ScriptedSource(colour_frames(4, seed=len(made)), after, hang_s=1.5))
        return made[-1]

    got = Collector()
    camera = Camera(cam_config(), got, source_factory=factory)
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.connects >= 2 and len(got.frames) >= 8, 6.0), camera.snapshot()
    finally:
        assert camera.stop(3.0) or after == "hang"
    assert camera.stats.failures >= 1 and camera.state is CameraState.STOPPED
    assert made[0].closed.is_set() or after == "hang"  # released (a hung driver call is released when it returns)
    assert len(got.frames) >= 8  # 4 good frames from each of at least two connections
    for a, b in pairwise(got.frames):
        assert not np.array_equal(a.image, b.image), "a repeated frame was passed on"
    assert not any(is_blank(f.image) for f in got.frames)
    assert [f.frame_id for f in got.frames] == list(range(1, len(got.frames) + 1))
    if after == "hang":
        assert "took longer than 0.3 s" in camera.stats.last_error


def test_reconnect_backoff_doubles_and_is_capped_on_an_injected_clock() -> None:
    clock = FakeClock()
    opens: list[float] = []
    stop_after = threading.Event()

    class Dead(Source):
        def open(self) -> None:
            opens.append(clock())
            raise SourceError("connection refused")

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) >= 7:
            camera.request_stop()
            stop_after.set()

    camera = Camera(
        cam_config(backoff_initial_s=0.5, backoff_max_s=4.0), Collector(), source_factory=Dead, clock=clock, sleep=sleep
    )
    camera.start()
    assert stop_after.wait(5.0)
    camera.stop(2.0)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert [round(b - a, 6) for a, b in pairwise(opens)] == clock.sleeps[: len(opens) - 1]
    assert camera.stats.failures == len(opens) and camera.stats.connects == 0


def test_colour_order_stays_rgb_after_reconnect(tmp_path: Path) -> None:
    path = write_video(tmp_path / "red.avi", colour_frames(6, seed=4))
    made = []

    def factory() -> Source:
        made.append(create_source("video", {"path": str(path), "loop": len(made) > 0, "fps": 200.0}))
        return made[-1]

    got = Collector()
    camera = Camera(cam_config(backoff_initial_s=0.01), got, source_factory=factory)
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.connects >= 2 and len(got.frames) >= 10)
    finally:
        camera.stop()
    assert camera.stats.failures >= 1  # the first connection ended (no loop): DOWN, then reconnected
    for frame in got.frames:
        red, green, blue = frame.image.reshape(-1, 3).mean(axis=0)
        assert red > 150 > 60 > max(green, blue)


def test_free_run_is_capped_at_max_fps() -> None:
    got = Collector()
    camera = Camera(
        cam_config(
            kind="synthetic",
            source={"fps": 0.0, "size": 32, "ng_rate": 0.0, "seed": 0, "style": "brushed"},
            max_fps=20.0,
        ),
        got,
    )
    camera.start()
    time.sleep(1.0)
    camera.stop()
    assert 12 <= len(got.frames) <= 23


def test_external_trigger_inspects_only_the_next_frame_after_each_trigger() -> None:
    got = Collector()
    camera = Camera(
        cam_config(
            kind="synthetic",
            trigger="mqtt",
            source={"fps": 50.0, "size": 32, "ng_rate": 0.0, "seed": 0, "style": "brushed"},
        ),
        got,
    )
    camera.start()
    try:
        assert wait_for(lambda: camera.state is CameraState.UP)
        time.sleep(0.3)
        assert got.frames == []
        before = time.monotonic()
        camera.trigger()
        assert wait_for(lambda: len(got.frames) == 1)
        assert got.frames[0].captured_mono >= before
        camera.trigger()
        assert wait_for(lambda: len(got.frames) == 2)
        time.sleep(0.2)
        assert len(got.frames) == 2 and camera.stats.triggers == 2
    finally:
        camera.stop()


def test_credentialed_url_is_never_printed(capfd: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = setup_logging("debug", "kv", stream)
    url = "rtsp://operator:hunter2@127.0.0.1:1/live"
    camera = Camera(
        cam_config(kind="url", source={"url": url, "open_timeout_s": 1.0}, backoff_initial_s=0.05, open_timeout_s=2.0),
        Collector(),
    )
    try:
        camera.start()
        assert wait_for(lambda: camera.stats.failures >= 1, 8.0)
        camera.stop()
    finally:
        logging.getLogger("inspector").removeHandler(handler)
    logged = stream.getvalue()
    out, err = capfd.readouterr()
    assert "state=DOWN" in logged and "rtsp://***@127.0.0.1:1/live" in logged
    for text in (logged, out, err, str(camera.snapshot()), repr(camera.snapshot())):
        assert "hunter2" not in text and "operator" not in text
