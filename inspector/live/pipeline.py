"""Cameras -> bounded drop-oldest queues -> micro-batched inference -> sinks, with a stats snapshot.

Each camera has a queue of `queue_size` frames (default 1); a new frame pushes out the oldest, so
when inference is slower than the cameras the age of an inspected frame stays below about one
frame interval plus one batch, and the drops are counted per camera. One inference thread takes
the oldest frame of each waiting camera (round robin) into a batch of up to `max_batch`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from inspector.engine import Engine
from inspector.isolate import inspect_each
from inspector.live.camera import Camera, CameraState, Frame
from inspector.live.config import CameraConfig
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink
from inspector.live.snapshot import CameraSnapshot, PipelineSnapshot, Verdicts
from inspector.live.sources import Source

if TYPE_CHECKING:
    from inspector.live.drift import DriftMonitor
    from inspector.live.shadow import Shadow

log = logging.getLogger(__name__)
SAMPLES = 2048


def new_run_id(wall: Callable[[], float] = time.time) -> str:
    """A run id unique across restarts: UTC start time plus 24 random bits (`20250101T120000Z-3fa2c1`)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall())) + "-" + secrets.token_hex(3)


def crop(image: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """The ROI [x, y, w, h] of a frame (clipped to it); ValueError when it lies outside the frame."""
    if roi is None:
        return image
    x, y, w, h = roi
    height, width = image.shape[:2]
    x1, y1 = min(x + w, width), min(y + h, height)
    if x >= width or y >= height or x1 - x < 16 or y1 - y < 16:
        raise ValueError(f"roi {list(roi)} lies outside the {width}x{height} frame")
    return image[y:y1, x:x1]


class Pipeline:
    """The live inspection loop shared by the daemon and the GUI; `snapshot()` feeds /metrics."""

    def __init__(
        self,
        engine: Engine,
        cameras: Iterable[CameraConfig],
        sinks: Iterable[Sink] = (),
        *,
        station: str = "station",
        queue_size: int = 1,
        max_batch: int = 4,
        clock: Callable[[], float] = time.monotonic,
        source_factories: dict[str, Callable[[], Source]] | None = None,
        camera_sleep: Callable[[float], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.run_id = run_id or new_run_id()
        self.station = station
        self.sinks = list(sinks)
        self.max_batch = max(1, max_batch)
        self._clock = clock
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        factories = source_factories or {}
        self._camera_sleep = camera_sleep
        self.cameras: dict[str, Camera] = {}
        self._queues: dict[str, deque[Frame]] = {}
        self._roi: dict[str, tuple[int, int, int, int] | None] = {}
        for cfg in cameras:
            self.cameras[cfg.id] = Camera(
                cfg,
                self.offer,
                source_factory=factories.get(cfg.id),
                clock=clock,
                sleep=camera_sleep,
                on_error=self._fail,
            )
            self._queues[cfg.id] = deque(maxlen=max(1, queue_size))
            self._roi[cfg.id] = cfg.roi
        self._order = list(self.cameras)
        self._rr = 0
        self._frames = dict.fromkeys(self.cameras, 0)
        self._drops = dict.fromkeys(self.cameras, 0)
        self._verdicts: dict[str, Counter[tuple[str, str]]] = {
            cam: Counter() for cam in self.cameras
        }  # verdict, reason
        self._errors = 0
        self._last_error = ""
        self._latency_ms: deque[float] = deque(maxlen=SAMPLES)
        self._age_s: deque[float] = deque(maxlen=SAMPLES)
        self._inference_ms: deque[float] = deque(maxlen=SAMPLES)
        self._last_result_mono: float | None = None
        self._failing = False  # the last inspection attempt failed (no verdict since)
        self._consecutive_errors = 0  # failed attempts since the last verdict
        self.last_record: FrameRecord | None = None
        self._started = False
        # the PLC handshake (inspector.live.handshake), wired by the station builder: which part a frame is,
        # and that a part's frame could not be inspected (camera, part id, why)
        self.claim_part: Callable[[str], str] | None = None
        self.on_failed: Callable[[str, str, str], None] | None = None
        self.recipe = ""  # stamped on every record (set with the engine it belongs to: swap_engine)
        self.lot = ""  # stamped on every record (set_lot)
        self.holds: Callable[[], list[str]] | None = None  # more not-ready reasons (the golden self-test's block)
        self.shadow: Shadow | None = None  # the candidate beside production (inspector.live.shadow): fed after sinks
        self.drift: DriftMonitor | None = None  # SPC charts per camera (inspector.live.drift): alarms, not readiness

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for sink in self.sinks:
            sink.start()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()
        for camera in self.cameras.values():
            camera.start()
        self._started = True

    def stop(self, timeout: float = 4.0) -> bool:
        """Stop cameras (released), finish the batch in flight, flush the sinks; True if all in time."""
        deadline = time.monotonic() + timeout
        for camera in self.cameras.values():
            camera.request_stop()  # signal all at once; each stop() below then only joins
        # a list, not a generator: all() must not stop asking after the first camera that fails to stop
        released = all([camera.stop(max(0.1, (deadline - time.monotonic()) / 2)) for camera in self.cameras.values()])  # noqa: C419
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        finished = self._thread is None or not self._thread.is_alive()
        for sink in self.sinks:
            sink.begin_stop()  # all drain at once; each stop() below then waits within the shared deadline
        drained = all([sink.stop(max(0.1, deadline - time.monotonic())) for sink in self.sinks])  # noqa: C419 (every sink)
        self._started = False
        return released and finished and drained

    def trigger(self, camera: str | None = None) -> list[str]:
        """External trigger for one camera id, or every externally triggered camera; returns those triggered."""
        chosen = [c for c in self.cameras.values() if (c.id == camera if camera else c.external)]
        for cam in chosen:
            cam.trigger()
        return [c.id for c in chosen]

    def replace_camera(self, config: CameraConfig, timeout: float = 3.0) -> bool:
        """Reopen one camera with new source settings (a recipe's exposure, say) while the sinks, the other
        cameras and this pipeline's counters keep running; True when the old source closed within `timeout`."""
        old = self.cameras.get(config.id)
        if old is None:
            raise KeyError(f"no camera {config.id!r} in this pipeline (cameras: {', '.join(self.cameras)})")
        released = old.stop(timeout)
        camera = Camera(config, self.offer, clock=self._clock, sleep=self._camera_sleep, on_error=self._fail)
        self.cameras[config.id] = camera
        if self._started:
            camera.start()
        return released

    def set_roi(self, camera: str, roi: tuple[int, int, int, int] | None) -> None:
        """Inspect only `roi` [x, y, w, h] of `camera` (None: the whole frame) from its next frame on."""
        roi = self._checked_roi(camera, roi)
        with self._cond:
            self._roi[camera] = roi

    def _checked_roi(self, camera: str, roi: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if camera not in self._roi:
            raise KeyError(f"no camera {camera!r} in this pipeline (cameras: {', '.join(self.cameras)})")
        if roi is None:
            return None
        x, y, w, h = roi
        return (int(x), int(y), int(w), int(h))

    def swap_engine(
        self,
        engine: Engine,
        *,
        recipe: str | None = None,
        rois: dict[str, tuple[int, int, int, int] | None] | None = None,
    ) -> None:
        """Use a new (already verified) engine from the next batch on; with `recipe` and `rois` (a recipe
        changeover) all three change together: no frame is judged by one recipe's engine and another's ROI."""
        checked = {cam: self._checked_roi(cam, roi) for cam, roi in (rois or {}).items()}
        with self._cond:
            self.engine = engine
            self._roi.update(checked)
            if recipe is not None:
                self.recipe = recipe

    def set_lot(self, lot: str) -> None:
        """Stamp `lot` on the records of frames taken from now on."""
        with self._cond:
            self.lot = lot

    # ------------------------------------------------------------------ state
    def cameras_up(self) -> bool:
        return bool(self.cameras) and all(c.state is CameraState.UP for c in self.cameras.values())

    def not_ready(self, *, startup: bool = False) -> list[str]:
        """Why the station is not inspecting ([] when it is): what /readyz goes by. `startup`: only what
        stops READY=1 (a sink that could not open; not a broker that is away for now)."""
        reasons = [] if self._started else ["pipeline not started"]
        if self.engine is None:
            reasons.append("model not loaded")
        reasons += [
            f"camera {cam_id} {camera.state.value.lower()}"
            for cam_id, camera in self.cameras.items()
            if camera.state is not CameraState.UP
        ]
        reasons += [
            f"sink {sink.kind}: {problem}"
            for sink in self.sinks
            if (problem := sink.health()) and (sink.dead or not startup)
        ]
        if self._failing:
            reasons.append(f"inspection failing: {self._last_error}")
        if self.holds is not None:
            reasons += self.holds()
        return reasons

    def ready(self, *, startup: bool = False) -> bool:
        """Model loaded, every camera up, every sink healthy and the last inspection gave a verdict."""
        return bool(self.cameras) and not self.not_ready(startup=startup)

    def last_result_age(self) -> float | None:
        """Seconds since the last verdict (None before the first): WATCHDOG=1 only while this is small."""
        last = self._last_result_mono
        return None if last is None else self._clock() - last

    def snapshot(self) -> PipelineSnapshot:
        """A typed copy of every counter (what /metrics, /readyz, the daemon's status and the GUI read)."""
        with self._cond:
            cameras = {}
            for cam_id, camera in self.cameras.items():
                snap = camera.snapshot()
                cameras[cam_id] = CameraSnapshot(
                    **snap,
                    up=snap["state"] == CameraState.UP.value,
                    inspected=self._frames[cam_id],
                    dropped=self._drops[cam_id],
                    verdicts=Verdicts.of(self._verdicts[cam_id]),
                    queued=len(self._queues[cam_id]),
                )
            reasons = self.not_ready()
            return PipelineSnapshot(
                station=self.station,
                run=self.run_id,
                ready=bool(self.cameras) and not reasons,
                not_ready=tuple(reasons),
                model_fingerprint=self.engine.fingerprint if self.engine is not None else "",
                recipe=self.recipe,
                lot=self.lot,
                frames=sum(self._frames.values()),
                verdicts=Verdicts.of(sum(self._verdicts.values(), Counter())),
                dropped=sum(self._drops.values()),
                errors=self._errors,
                consecutive_errors=self._consecutive_errors,
                last_error=self._last_error,
                last_frame_age_s=self.last_result_age(),
                latency_ms=tuple(self._latency_ms),
                frame_age_s=tuple(self._age_s),
                inference_ms=tuple(self._inference_ms),
                cameras=cameras,
                sinks={sink.kind: sink.snapshot() for sink in self.sinks},
                shadow=self.shadow.snapshot() if self.shadow is not None else None,
                drift=self.drift.state() if self.drift is not None else {},
            )

    # ------------------------------------------------------------------ the inference thread
    def offer(self, frame: Frame) -> None:
        """Queue a grabbed frame for inspection (each camera thread calls this); never blocks: a full
        queue pushes out its oldest frame, counted as dropped."""
        if self.claim_part is not None and not frame.part_id:
            frame = dataclasses.replace(frame, part_id=self.claim_part(frame.camera))
        dropped = None
        with self._cond:
            q = self._queues[frame.camera]
            if len(q) == q.maxlen:
                self._drops[frame.camera] += 1
                dropped = q[0]
            q.append(frame)
            self._cond.notify()
        if dropped is not None and dropped.part_id:
            self._part_failed(dropped, "frame dropped: the inspection queue was full")

    def step(self) -> int:
        """Inspect one batch of what is queued now, on the calling thread (one turn of the inference
        thread; with an injected clock, a test can drive the pipeline frame by frame). Returns the batch size."""
        with self._cond:  # the engine, ROIs, recipe and lot of one moment: a changeover falls between batches
            batch, engine, rois, recipe, lot = self._take(), self.engine, dict(self._roi), self.recipe, self.lot
        if batch:
            self._inspect(engine, batch, rois, recipe, lot)
        return len(batch)

    def _take(self) -> list[Frame]:
        batch: list[Frame] = []
        while len(batch) < self.max_batch:
            took = False
            for _ in range(len(self._order)):
                cam = self._order[self._rr % len(self._order)]
                self._rr += 1
                if self._queues[cam] and len(batch) < self.max_batch:
                    batch.append(self._queues[cam].popleft())
                    took = True
            if not took:
                break
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not any(self._queues.values()):
                    self._cond.wait(0.5)
                if self._stopping:
                    return
            self.step()

    def _inspect(
        self,
        engine: Engine,
        batch: list[Frame],
        rois: dict[str, tuple[int, int, int, int] | None] | None = None,
        recipe: str = "",
        lot: str = "",
    ) -> None:
        rois = dict(self._roi) if rois is None else rois
        taken = self._clock()
        images, kept = [], []
        for frame in batch:
            roi = rois[frame.camera]  # the record carries the ROI this crop used
            try:
                images.append(crop(frame.image, roi))
                kept.append((frame, roi))
            except ValueError as exc:
                self._fail(f"camera {frame.camera}: {exc}")
                self._part_failed(frame, str(exc))
        # one bad frame (a NaN score, a part not found by the bundle's alignment) is one error, not the batch
        outcomes = inspect_each(engine, images)
        done = self._clock()
        batch_ms = (done - taken) * 1000
        records, failed = [], []
        with self._cond:
            for (frame, roi), result in zip(kept, outcomes, strict=True):  # inspect_each: one outcome per image
                if isinstance(result, Exception):
                    self._fail(f"camera {frame.camera} frame {frame.frame_id}: inference failed: {result}")
                    failed.append((frame, f"inference failed: {result}"))
                    continue
                timings = {
                    "capture": frame.capture_ms,
                    "queue": (taken - frame.captured_mono) * 1000,
                    **result.timings_ms,
                    "total": (done - frame.captured_mono) * 1000 + frame.capture_ms,
                }
                record = FrameRecord(
                    station=self.station,
                    camera=frame.camera,
                    frame_id=frame.frame_id,
                    captured_at=frame.captured_at,
                    result=result,
                    image=frame.image,
                    timings_ms=timings,
                    roi=roi,
                    run=self.run_id,
                    part_id=frame.part_id,
                    recipe=recipe,
                    lot=lot,
                )
                self._frames[frame.camera] += 1
                self._verdicts[frame.camera][(result.verdict.value, result.reason_code)] += 1
                if self.drift is not None:
                    self.drift.observe(frame.camera, result, engine)
                self._latency_ms.append(timings["total"])
                self._age_s.append(done - frame.captured_mono)
                records.append(record)
            if records:  # only a verdict counts as "inspecting" (readiness and the watchdog go by it)
                self._inference_ms.append(batch_ms)
                self._last_result_mono = done
                self._failing = False
                self._consecutive_errors = 0
                self.last_record = records[-1]
        for frame, why in failed:
            self._part_failed(frame, why)
        for record in records:
            for sink in self.sinks:
                sink.submit(record)
        if self.shadow is not None:  # after the verdicts are out: the candidate never delays them
            for record in records:
                self.shadow.offer(record)

    def _part_failed(self, frame: Frame, message: str) -> None:
        """Tell the PLC handshake that this frame's part gets no verdict (its ERROR result)."""
        if self.on_failed is not None and frame.part_id:
            self.on_failed(frame.camera, frame.part_id, message)

    def _fail(self, message: str) -> None:
        self._errors += 1
        self._last_error = message
        self._failing = True
        self._consecutive_errors += 1
        log.error("inspection error", extra={"fields": {"error": message}})
