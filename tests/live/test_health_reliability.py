"""Issue 11 items 6, 8, 9, 10, 16 (live): health follows verdicts, stale frames and bad files are not parts,
and results are unique across restarts. Real threads, a real engine, real sockets and files."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import cv2
import numpy as np
from conftest_services import colour_frames
from test_camera import Collector, cam_config, wait_for
from test_pipeline import ListSink, synthetic_camera

from inspector.engine import Engine
from inspector.live.camera import Camera
from inspector.live.config import load_config
from inspector.live.daemon import Daemon
from inspector.live.notify import Notifier
from inspector.live.pipeline import Pipeline
from inspector.live.sources import Source, SourceError, create_source
from inspector.result import InspectionResult


def write_station(folder: Path, name: str, model: Path, camera_extra: str, *, fps: int, sinks: str = "") -> Path:
    """A one-camera synthetic station config for `name`."""
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "{name}"
[model]
path = "{model}"
[[cameras]]
id = "cam1"
{camera_extra}
[cameras.source]
kind = "synthetic"
fps = {fps}
size = 64
{sinks}
''')
    return path


def test_roi_outside_the_frame_is_not_ready_and_starves_the_watchdog(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config_path = write_station(tmp_path, "roi", tiny_bundle_path, "roi = [500, 500, 64, 64]", fps=30)
    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    daemon = Daemon(load_config(config_path), notifier=Notifier(str(sock_path), watchdog_usec=600_000))
    try:
        daemon.pipeline.start()
        assert wait_for(lambda: daemon.pipeline.snapshot().errors >= 5)
        daemon.tick()
        snap = daemon.pipeline.snapshot()
        assert snap.frames == 0 and snap.last_frame_age_s is None
        assert not daemon.pipeline.ready() and any("inspection failing" in r and "roi" in r for r in snap.not_ready)
        assert not daemon.flowing()
        try:
            sent = sock.recv(4096).decode()
        except BlockingIOError:
            sent = ""
        assert sent == "", "READY=1 or WATCHDOG=1 was sent while nothing is inspected"
    finally:
        daemon.pipeline.stop(3.0)
        sock.close()


class NanOnRed:
    """The real engine, whose model gives NaN for a mostly red image (as a broken export would)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fingerprint = engine.fingerprint

    def inspect(self, images, *, prepared: bool = False) -> list[InspectionResult]:
        if any(float(img[..., 0].mean()) > 150 and float(img[..., 1].mean()) < 60 for img in images):
            raise ValueError("score must be finite, got nan")
        return self.engine.inspect(images, prepared=prepared)


def test_one_nan_frame_is_one_error_not_the_whole_batch(tiny_engine: Engine) -> None:
    sink = ListSink()
    pipeline = Pipeline(NanOnRed(tiny_engine), [synthetic_camera("a")], [sink], max_batch=4)  # type: ignore[arg-type]
    red = colour_frames(1)[0]
    grey = np.random.default_rng(1).integers(60, 200, (96, 128, 3), dtype=np.uint8)
    from inspector.live.camera import Frame

    batch = [Frame("a", i, img, 0.0, 0.0, 0.0) for i, img in enumerate([grey, red, grey, grey], start=1)]
    sink.start()
    pipeline._inspect(pipeline.engine, batch)  # the batch of four, one of them bad
    sink.stop(2.0)
    assert [r.frame_id for r in sink.records] == [1, 3, 4]
    assert pipeline.snapshot().errors == 1 and "frame 2" in pipeline.snapshot().last_error


def test_a_frozen_cameras_frame_is_not_a_new_part_after_reconnect() -> None:
    frozen = colour_frames(1, seed=3)[0]

    class Frozen(Source):
        """One connection: the same buffer twice, then the driver drops (a frozen camera, reconnected)."""

        def __init__(self) -> None:
            super().__init__()
            self.reads = 0

        def read(self) -> np.ndarray:
            self.reads += 1
            if self.reads > 2:
                raise SourceError("device reset")
            return frozen.copy()

    made: list[Frozen] = []

    def factory() -> Source:
        made.append(Frozen())
        return made[-1]

    got = Collector()
    camera = Camera(cam_config(backoff_initial_s=0.01, backoff_max_s=0.01), got, source_factory=factory)
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.connects >= 4, 5.0)
    finally:
        camera.stop(2.0)
    assert len(got.frames) == 1, f"the frozen frame was passed on {len(got.frames)} times"


def test_a_corrupt_file_is_one_error_and_the_folder_goes_on(tmp_path: Path) -> None:
    frames = colour_frames(4, seed=7)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i}.png"), frame)
    (tmp_path / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    errors: list[str] = []
    got = Collector()
    config = cam_config(kind="folder", source={"path": str(tmp_path), "fps": 0, "loop": False}, read_timeout_s=2.0)
    camera = Camera(config, got, on_error=errors.append, source_factory=lambda: create_source("folder", config.source))
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.failures >= 1, 5.0)  # DOWN only at the end of the folder
    finally:
        camera.stop(2.0)
    assert len(got.frames) == 3 and camera.stats.bad_frames == 1, (len(got.frames), errors)
    assert len(errors) == 1 and "1.png" in errors[0]
    assert "all 4 images replayed" in camera.stats.last_error


def test_results_are_unique_across_restarts(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config_path = write_station(tmp_path, "runs", tiny_bundle_path, "", fps=50, sinks='[sinks.sqlite]\npath = "log.db"')
    for _ in range(2):  # two runs of the daemon on one database, as after a watchdog restart
        daemon = Daemon(load_config(config_path))
        daemon.pipeline.start()
        assert wait_for(lambda daemon=daemon: daemon.pipeline.snapshot().frames >= 5)
        daemon.shutdown()
    with sqlite3.connect(tmp_path / "log.db") as con:
        total = con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0]
        unique = con.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT station, camera, run, frame_id FROM inspections)"
        ).fetchone()[0]
        runs = con.execute("SELECT COUNT(DISTINCT run) FROM inspections").fetchone()[0]
        firsts = con.execute("SELECT COUNT(*) FROM inspections WHERE frame_id = 1").fetchone()[0]
    assert runs == 2 and firsts == 2 and unique == total  # frame ids restart; (run, frame_id) does not repeat
