"""The pipeline with real cameras, a real engine and real threads: bounded latency, drops, batching, stats."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from test_camera import wait_for
from test_sources import FakeClock

from inspector.engine import Engine
from inspector.live.camera import Frame
from inspector.live.config import CameraConfig
from inspector.live.pipeline import Pipeline, crop
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink


class SlowEngine(Engine):
    """The real engine, with inference made slower than the camera (like a big model on 2 cores): `sleep`
    blocks like onnxruntime (no busy loop), or advances a fake clock."""

    def __init__(self, engine: Engine, delay_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(engine.bundle, max_batch=engine.max_batch)
        self.delay_s = delay_s
        self.sleep = sleep
        self.batch_sizes: list[int] = []

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.batch_sizes.append(len(batch))
        self.sleep(self.delay_s)
        return super().infer(batch)


class ListSink(Sink):
    kind = "list"

    def __init__(self) -> None:
        super().__init__(queue_size=4096)
        self.records: list[FrameRecord] = []

    def write(self, record: FrameRecord) -> None:
        self.records.append(record)


def synthetic_camera(cam_id: str, fps: float = 30.0, **overrides) -> CameraConfig:
    settings = {"fps": fps, "size": 64, "ng_rate": 0.3, "seed": zlib.crc32(cam_id.encode()) % 100, "style": "brushed"}
    return CameraConfig(id=cam_id, kind="synthetic", source=settings, max_fps=1000.0, **overrides)


def test_bounded_latency_when_inference_is_slower_than_the_camera(tiny_engine: Engine) -> None:
    """A 24 FPS camera and 0.1 s inference, played on the pipeline's clock: drop-oldest keeps the age of an
    inspected frame under one frame interval plus one inference, and counts every frame it pushed out."""
    clock, fps, inference_s = FakeClock(), 24.0, 0.1
    engine = SlowEngine(tiny_engine, inference_s, sleep=clock.sleep)
    sink = ListSink()
    pipeline = Pipeline(engine, [synthetic_camera("cam1", fps=fps)], [sink], station="t", queue_size=1, clock=clock)
    images = np.random.default_rng(7).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    start, produced, next_frame = clock(), 0, clock()
    sink.start()
    while clock() - start < 2.5:
        while next_frame <= clock():  # the camera delivers every frame due by now
            produced += 1
            pipeline.offer(Frame("cam1", produced, images[produced % 8], 0.0, next_frame, 1.0))
            next_frame += 1 / fps
        if not pipeline.step():
            clock.now = next_frame  # idle until the next frame
    assert sink.stop(3.0)
    snap = pipeline.snapshot()
    ages = np.array(snap.frame_age_s)
    assert len(ages) == snap.frames >= 20
    assert np.percentile(ages, 99) < 1 / fps + inference_s + 1e-9, ages
    assert ages.min() >= inference_s - 1e-9 and ages.max() > inference_s + 0.01  # frames wait in the queue too
    assert snap.dropped == snap.cameras["cam1"].dropped > produced / 2
    assert snap.frames + snap.dropped + snap.cameras["cam1"].queued == produced  # every frame accounted for
    assert len(sink.records) == snap.frames and engine.batch_sizes == [1] * snap.frames
    timings = sink.records[-1].timings_ms
    assert set(timings) >= {"capture", "queue", "preprocess", "inference", "total"}
    assert timings["total"] >= inference_s * 1000


def test_micro_batches_across_cameras(tiny_engine: Engine) -> None:
    engine = SlowEngine(tiny_engine, 0.05)
    sink = ListSink()
    cameras = [synthetic_camera(f"cam{i}", fps=30.0) for i in range(3)]
    pipeline = Pipeline(engine, cameras, [sink], station="t", max_batch=4)
    pipeline.start()
    try:
        assert wait_for(lambda: len(engine.batch_sizes) >= 10, 5.0)
    finally:
        pipeline.stop(3.0)
    assert max(engine.batch_sizes) >= 2
    assert {r.camera for r in sink.records} == {"cam0", "cam1", "cam2"}
    snap = pipeline.snapshot()
    assert snap.verdicts.ok + snap.verdicts.ng == snap.frames == len(sink.records)
    assert all(cam.inspected > 0 for cam in snap.cameras.values())


def test_snapshot_ready_and_frame_age(tiny_engine: Engine) -> None:
    pipeline = Pipeline(tiny_engine, [synthetic_camera("cam1", fps=20.0, roi=(8, 8, 40, 40))], station="t")
    assert not pipeline.ready() and pipeline.last_result_age() is None
    pipeline.start()
    try:
        assert wait_for(lambda: pipeline.ready() and pipeline.snapshot().frames >= 3)
        snap = pipeline.snapshot()
        assert snap.ready and snap.not_ready == () and snap.cameras["cam1"].up and snap.cameras["cam1"].state == "UP"
        assert snap.last_frame_age_s is not None and snap.last_frame_age_s >= 0
        assert snap.model_fingerprint == tiny_engine.fingerprint
        assert pipeline.last_record is not None and pipeline.last_record.image.shape == (64, 64, 3)
    finally:
        pipeline.stop(3.0)
    snap = pipeline.snapshot()
    assert not pipeline.ready() and not snap.ready and snap.cameras["cam1"].state == "STOPPED"
    assert "pipeline not started" in snap.not_ready


def test_trigger_routes_to_external_cameras_only(tiny_engine: Engine) -> None:
    sink = ListSink()
    cams = [synthetic_camera("free", fps=5.0), synthetic_camera("plc", fps=50.0, trigger="opcua")]
    pipeline = Pipeline(tiny_engine, cams, [sink], station="t")
    pipeline.start()
    try:
        assert wait_for(pipeline.cameras_up)
        assert pipeline.trigger() == ["plc"]
        assert pipeline.trigger("plc") == ["plc"]
        assert wait_for(lambda: any(r.camera == "plc" for r in sink.records))
    finally:
        pipeline.stop(3.0)
    assert sum(r.camera == "plc" for r in sink.records) <= 2


@pytest.mark.parametrize(
    ("roi", "shape"), [(None, (50, 60, 3)), ((10, 5, 20, 30), (30, 20, 3)), ((40, 20, 100, 100), (30, 20, 3))]
)
def test_crop(roi, shape) -> None:
    assert crop(np.zeros((50, 60, 3), np.uint8), roi).shape == shape


def test_crop_outside_the_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the 60x50 frame"):
        crop(np.zeros((50, 60, 3), np.uint8), (70, 0, 10, 10))
