"""Sources with real parts: an OpenCV-written video file, an image folder, the synthetic line, URLs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest_services import colour_frames

from inspector.live.settings import setting
from inspector.live.sources import (
    SOURCES,
    Source,
    SourceError,
    SourceSettings,
    create_source,
    redact_url,
    register_source,
)
from inspector.live.sources.base import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_registry_has_every_kind() -> None:
    assert {"device", "url", "video", "folder", "synthetic", "genicam"} <= set(SOURCES)


def test_register_source_decorator_adds_a_kind() -> None:
    class ConstantSettings(SourceSettings):
        value: int = setting(7, help="the pixel value", ge=0, le=255)

    @register_source("test-constant")
    class Constant(Source):
        Settings = ConstantSettings

        def read(self) -> np.ndarray:
            return np.full((4, 4, 3), self.options["value"], np.uint8)

    try:
        source = create_source("test-constant", {"value": 9})
        assert isinstance(source, Constant) and source.kind == "test-constant"
        assert source.read()[0, 0, 0] == 9
        assert create_source("test-constant", {}).options == {"value": 7}  # the kind's own default
        with pytest.raises(SourceError, match="value: must be at most 255"):
            create_source("test-constant", {"value": 300})
    finally:
        SOURCES.pop("test-constant")


def test_video_file_written_by_opencv_reads_back_rgb_and_loops(tmp_path: Path) -> None:
    frames = colour_frames(5)
    path = write_video(tmp_path / "line.avi", frames)
    clock = FakeClock()
    source = create_source("video", {"path": str(path), "loop": True, "fps": 0.0}, clock=clock, sleep=clock.sleep)
    source.open()
    try:
        read = []
        for _ in range(12):  # more than the file holds: it loops
            source.pace()
            read.append(source.read())
    finally:
        source.close()
    for image in read:
        assert image.shape == (96, 128, 3) and image.dtype == np.uint8
        red, green, blue = image.reshape(-1, 3).mean(axis=0)
        assert red > 150 and green < 60 and blue < 60  # RGB, not BGR
    assert clock.sleeps and all(s == pytest.approx(1 / 30, abs=1e-3) for s in clock.sleeps)  # the file's own FPS


def test_video_file_without_loop_ends_with_source_error(tmp_path: Path) -> None:
    path = write_video(tmp_path / "short.avi", colour_frames(2))
    source = create_source("video", {"path": str(path), "loop": False, "fps": 1000.0})
    source.open()
    source.read(), source.read()
    with pytest.raises(SourceError, match="end of file"):
        source.read()
    source.close()


def test_folder_replay_at_set_fps_in_name_order(tmp_path: Path) -> None:
    frames = colour_frames(3, seed=1)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    clock = FakeClock()
    source = create_source("folder", {"path": str(tmp_path), "fps": 4.0, "loop": True}, clock=clock, sleep=clock.sleep)
    source.open()
    got = []
    for _ in range(5):
        source.pace()
        got.append(source.read())
    assert np.array_equal(got[0], frames[0]) and np.array_equal(got[2], frames[2]) and np.array_equal(got[3], frames[0])
    assert clock.sleeps == [0.25] * 4


def test_folder_missing_or_empty_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder not found"):
        create_source("folder", {"path": str(tmp_path / "nope")}).open()
    with pytest.raises(SourceError, match="no images"):
        create_source("folder", {"path": str(tmp_path)}).open()


def test_synthetic_line_source_delivers_parts_with_truth() -> None:
    source = create_source("synthetic", {"fps": 0.0, "size": 64, "ng_rate": 0.5, "seed": 3})
    source.open()
    images = [source.read() for _ in range(10)]
    assert all(img.shape == (64, 64, 3) for img in images)
    assert len(source.truth) == 10 and {"good"} < set(source.truth)


def test_pacer_spaces_calls_without_bursting() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0, clock, clock.sleep)
    pacer.wait()
    pacer.wait()
    clock.now += 5.0  # a long pause: no burst of catch-up frames afterwards
    pacer.wait()
    pacer.wait()
    assert clock.sleeps == [0.1, 0.1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://user:p@ss@cam/x", "rtsp://***@cam/x"),
        ("http://token@host/mjpg and rtsp://a:b@c/", "http://***@host/mjpg and rtsp://***@c/"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("no url here", "no url here"),
    ],
)
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


def test_url_source_never_shows_credentials() -> None:
    source = create_source("url", {"url": "rtsp://operator:hunter2@127.0.0.1:1/live", "open_timeout_s": 1.0})
    assert "hunter2" not in source.describe() and "hunter2" not in repr(source)
    assert "hunter2" not in str(SourceError(f"cannot open {source.options['url']}"))


def test_synthetic_pool_cycles_pre_rendered_parts_with_their_truth() -> None:
    source = create_source("synthetic", {"fps": 0.0, "size": 64, "ng_rate": 0.5, "seed": 3, "pool": 3})
    source.open()
    try:
        frames = [source.read() for _ in range(7)]
    finally:
        source.close()
    assert all(np.array_equal(frames[i], frames[i + 3]) for i in range(4))
    assert not np.array_equal(frames[0], frames[1])
    assert list(source.truth)[:3] == list(source.truth)[3:6]
