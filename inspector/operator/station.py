"""The GUI's model of a running station (no Qt): pipeline lifecycle, engineer actions, plain-words states.

Everything slow (loading a bundle, restarting cameras, writing review images, checking the disk) runs
on one control thread; the UI thread only reads the state below and drains records from `GuiSink`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from inspector.audit import operator_name, record_safely
from inspector.engine import Engine
from inspector.errors import BundleError, InspectorError
from inspector.live.camera import CameraState
from inspector.live.config import CameraConfig, StationConfig, check_camera
from inspector.live.drift import CameraDrift
from inspector.live.pipeline import Pipeline
from inspector.live.recipes import ChangeOutcome
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink
from inspector.live.snapshot import PipelineSnapshot
from inspector.live.sources import Source
from inspector.live.station import Station, build_engine, build_station
from inspector.operator.line import outcome_text
from inspector.operator.state import MODEL_ERROR_AFTER, CameraStatus, Message, Phase
from inspector.operator.stats import LineStats

log = logging.getLogger("inspector.gui")
MIN_ROI = 16
_HINTS = {
    "device": "check the camera's cable and power",
    "url": "check the network and the camera's address",
    "genicam": "check the camera's cable, power and network",
    "video": "check the video file",
    "folder": "check the image folder",
    "synthetic": "the simulated line stopped",
}


class GuiSink(Sink):
    """Receives records on the inference thread and holds them until the UI drains them (never blocks)."""

    kind = "gui"

    def __init__(self, maxlen: int = 1024) -> None:
        super().__init__(queue_size=1)
        self._records: deque[FrameRecord] = deque(maxlen=maxlen)

    def start(self) -> None:
        """Nothing to start: the UI timer drains."""

    def stop(self, timeout: float = 0.0) -> bool:
        """Nothing to flush: the UI timer drains (so nothing is lost: clean)."""
        return True

    def submit(self, record: FrameRecord) -> None:
        self.stats.submitted += 1
        if len(self._records) == self._records.maxlen:
            self.stats.dropped += 1
        self._records.append(record)

    def drain(self) -> list[FrameRecord]:
        out = []
        while True:
            try:
                out.append(self._records.popleft())
            except IndexError:
                return out


class LiveStation:
    """Runs the station the GUI shows (wired by `build_station`); every method is called from the UI thread
    and returns at once."""

    def __init__(
        self,
        config: StationConfig,
        *,
        config_sinks: bool = True,
        engine_factory: Callable[[StationConfig, Path | None], Engine] = build_engine,
        source_factories: dict[str, Callable[[], Source]] | None = None,
        camera_sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        disk_paths: list[Path] | None = None,
        disk_usage: Callable[[str], Any] = shutil.disk_usage,
        min_free_mb: float = 500.0,
    ) -> None:
        self.config = config
        self.cameras: dict[str, CameraConfig] = {c.id: c for c in config.cameras}
        self._calibrated_roi = {c.id: c.roi for c in config.cameras}  # the geometry the station was set up with
        self.sink = GuiSink()
        self.stats = LineStats(self.cameras, clock=clock, wall=wall)
        self.station: Station | None = None
        self.phase = Phase.STARTING
        self.error = ""  # plain words, for MODEL ERROR / ERROR
        self.disk_warning = ""
        self.messages: deque[Message] = deque(maxlen=32)
        self._config_sinks = config_sinks
        self._engine_factory = engine_factory
        self._source_factories = source_factories
        self._camera_sleep = camera_sleep
        self._clock = clock
        self._disk_paths = disk_paths if disk_paths is not None else [config.data_dir]
        self._disk_usage = disk_usage
        self._min_free_mb = min_free_mb
        self._control = ThreadPoolExecutor(1, thread_name_prefix="gui-control")
        self._lock = threading.Lock()
        self._closed = False
        self._restarting = False
        self._down: dict[str, tuple[int, float, float]] = {}  # camera -> (failures, backoff, seen at)
        self._errors_seen = 0
        self._next_disk_check = 0.0
        self.drift: Mapping[str, CameraDrift] = {}  # the pipeline's drift charts per camera, as last polled

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Future:
        """Load the model and start the cameras in the background (phase STARTING until then)."""
        return self.submit(self._startup)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn` on the control thread; exceptions are logged and shown, never raised into the UI."""
        return self._control.submit(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # a background action must never kill the control thread silently
            log.exception("gui action failed", extra={"fields": {"action": getattr(fn, "__name__", "?")}})
            self.messages.append(Message("error", f"That did not work: {exc}"))
            return None

    def _startup(self) -> None:
        try:
            engine = self._engine_factory(self.config, None)
        except InspectorError as exc:
            self._model_failed(exc, str(self.config.model_path))
            return
        self._launch(engine)

    def _launch(self, engine: Engine) -> None:
        try:
            station = build_station(
                self.config,
                engine=engine,
                extra_sinks=[self.sink],
                config_sinks=self._config_sinks,
                cameras=list(self.cameras.values()),
                clock=self._clock,
                source_factories=self._source_factories,
                camera_sleep=self._camera_sleep,
            )
        except InspectorError as exc:
            log.error("sinks refused", extra={"fields": {"error": exc.message, "fix": exc.fix}})
            self.phase, self.error = Phase.ERROR, f"The station config cannot be used: {exc.message} ({exc.fix})"
            return
        with self._lock:
            if self._closed:
                return
            self.station = station
            station.start()
        self.phase, self.error = Phase.RUNNING, ""
        log.info(
            "gui pipeline started",
            extra={"fields": {"model": engine.fingerprint[:16], "cameras": ",".join(self.cameras)}},
        )

    @property
    def pipeline(self) -> Pipeline | None:
        """The running pipeline (None before the model loaded)."""
        return self.station.pipeline if self.station is not None else None

    @property
    def engine(self) -> Engine | None:
        return self.station.engine if self.station is not None else None

    @property
    def sinks(self) -> list[Sink]:
        """Every sink the pipeline feeds: the GUI's own first, then the station config's."""
        return list(self.station.sinks) if self.station is not None else []

    def close(self, timeout: float = 4.0) -> bool:
        """Stop every thread this station started; True when all stopped within `timeout`."""
        with self._lock:
            self._closed = True
        self._control.shutdown(wait=True, cancel_futures=True)
        clean = self.station.stop(timeout) if self.station is not None else True
        self.phase = Phase.STOPPED
        log.info("gui pipeline stopped", extra={"fields": {"clean": clean}})
        return clean

    # ------------------------------------------------------------------ reading
    def update(self) -> list[FrameRecord]:
        """Drain new records into the counters (UI timer); returns them, oldest first."""
        records = self.sink.drain()
        self.stats.ingest(records)
        return records

    @property
    def threshold(self) -> float | None:
        return self.engine.threshold if self.engine is not None else None

    def camera_status(self, cam: str) -> CameraStatus:
        pipeline = self.pipeline
        if pipeline is None or cam not in pipeline.cameras or self._restarting:
            return CameraStatus(CameraState.STARTING.value, message="starting")
        camera = pipeline.cameras[cam]
        snap = camera.snapshot()
        state = snap["state"]
        if state != CameraState.DOWN.value:
            self._down.pop(cam, None)
            return CameraStatus(state)
        key = (snap["failures"], snap["backoff_s"])
        seen = self._down.get(cam)
        if seen is None or seen[:2] != key:
            seen = (*key, self._clock())
            self._down[cam] = seen
        countdown = max(0.0, seen[1] - (self._clock() - seen[2]))
        hint = _HINTS.get(self.cameras[cam].kind, "check the camera")
        return CameraStatus(state, countdown, f"No picture from camera {cam}: {hint}.", snap["last_error"])

    def poll(self) -> None:
        """Slow checks (UI timer, about 2 Hz): inference errors and, every few seconds, free disk space."""
        pipeline = self.pipeline
        if pipeline is not None:
            snap = pipeline.snapshot()
            snap_errors, last = snap.errors, snap.last_error
            self.drift = snap.drift  # the trend draws the control limits and alarms
            if snap_errors > self._errors_seen:
                self._errors_seen = snap_errors
                if "inference failed" in last:
                    self.messages.append(
                        Message(
                            "error", "The model failed on a frame; the line keeps running. See the log for details."
                        )
                    )
                else:
                    self.messages.append(Message("warning", f"A frame could not be inspected: {last}"))
            self._follow_model_health(snap)
            self._follow_self_test()
        if self._clock() >= self._next_disk_check:
            self._next_disk_check = self._clock() + 5.0
            self.submit(self._check_disk)

    def _follow_model_health(self, snap: PipelineSnapshot) -> None:
        """MODEL ERROR while the model fails on frame after frame (not for one bad frame); RUNNING once it
        gives verdicts."""
        failing = snap.consecutive_errors >= MODEL_ERROR_AFTER and "inference failed" in snap.last_error
        if failing and self.phase is Phase.RUNNING:
            log.error("model failing", extra={"fields": {"error": snap.last_error}})
            self.phase = Phase.MODEL_ERROR
            self.error = (
                f"The model fails on every frame: {snap.last_error}. Fix: load another model, or re-export this one."
            )
        elif (
            not failing and self.phase is Phase.MODEL_ERROR and self.engine is not None and not snap.consecutive_errors
        ):
            self.phase, self.error = Phase.RUNNING, ""

    def _follow_self_test(self) -> None:
        """SELF-TEST FAILED while the golden self-test blocks the station (docs/verdicts.md#golden-samples)."""
        station = self.station
        blocked = station.self_test.blocking() if station is not None else ""
        if blocked and self.phase is Phase.RUNNING:
            self.phase = Phase.SELF_TEST_FAILED
            self.error = (
                f"Self-test failed: {blocked.removeprefix('golden self-test failed: ')}. Do not run the "
                "line: an engineer checks the model and acknowledges (inspector golden ack)."
            )
        elif not blocked and self.phase is Phase.SELF_TEST_FAILED:
            self.phase, self.error = Phase.RUNNING, ""

    def acknowledge_self_test(self, who: str, why: str = "") -> bool:
        """The engineer accepts a failed golden self-test (audit entry); False when nothing blocked."""
        done = self.station is not None and self.station.acknowledge_self_test(who=who, why=why)
        self._follow_self_test()
        return done

    # ------------------------------------------------------------------ line: recipe, lot, audit trail
    @property
    def audit_path(self) -> Path | None:
        """The station's audit trail (`<data_dir>/audit.jsonl`); None for a GUI run without a station config."""
        return self.config.data_dir / "audit.jsonl" if Path(self.config.path).is_file() else None

    def select_recipe(self, name: str, *, who: str, why: str = "") -> Future:
        """Verify recipe `name` and switch to it in the background (`Changeover.select`); the Future gives its
        `ChangeOutcome` (None before the model loaded). A refusal keeps the running recipe."""
        return self.submit(self._change, "recipe", name, who, why)

    def set_lot(self, lot: str, *, who: str, why: str = "") -> Future:
        """Stamp `lot` on every result from the next batch on (`Changeover.set_lot`); the Future gives its outcome."""
        return self.submit(self._change, "lot", lot, who, why)

    def _change(self, kind: str, value: str, who: str, why: str) -> ChangeOutcome | None:
        if self.station is None:
            self.messages.append(Message("error", f"Not done: no model is running yet, so no {kind} can be set."))
            return None
        change = self.station.changeover
        outcome = (change.select if kind == "recipe" else change.set_lot)(value, who=who, why=why)
        self.messages.append(Message("info" if outcome.ok else "error", outcome_text(outcome)))
        return outcome

    def _check_disk(self) -> None:
        warnings = []
        for path in self._disk_paths:
            existing = next((p for p in [Path(path), *Path(path).parents] if p.exists()), None)
            if existing is None:
                continue
            free_mb = self._disk_usage(str(existing)).free / 1e6
            if free_mb < self._min_free_mb:
                warnings.append(
                    f"Disk almost full: {free_mb:.0f} MB free at {existing}. "
                    "Rejected images may not be saved; free some space."
                )
        warning = " ".join(warnings)
        if warning and warning != self.disk_warning:
            log.warning("disk almost full", extra={"fields": {"detail": warning}})
        self.disk_warning = warning

    def _model_failed(self, exc: InspectorError, path: str) -> None:
        log.error("model refused", extra={"fields": {"path": path, "error": exc.message, "fix": exc.fix}})
        self.phase = Phase.MODEL_ERROR
        self.error = f"The model cannot be used: {exc.message}" + (f" Fix: {exc.fix}." if exc.fix else "")

    # ------------------------------------------------------------------ engineer actions
    def set_threshold(self, threshold: float) -> None:
        """Swap in the same bundle with a new threshold; verdicts from the next batch on use it."""
        if self.station is None:
            raise InspectorError("no model is running", "load a model first")
        running = self.station.engine
        self.station.swap_engine(
            Engine(
                running.bundle,
                threshold=threshold,
                max_batch=running.max_batch,
                tightening=running.tightening,
                typer=running.typer,
            )
        )  # keeps the typer
        self._audit("threshold", target=running.fingerprint[:16], old=running.threshold, new=threshold)
        log.info("threshold changed", extra={"fields": {"threshold": threshold}})

    def set_roi(self, cam: str, roi: tuple[int, int, int, int] | None) -> None:
        """Inspect only `roi` [x, y, w, h] of camera `cam` (None: the whole frame), from the next frame on."""
        if roi is not None:
            x, y, w, h = (int(v) for v in roi)
            if w < MIN_ROI or h < MIN_ROI or x < 0 or y < 0:
                raise InspectorError(f"ROI {list(roi)} is too small", f"draw at least {MIN_ROI}x{MIN_ROI} pixels")
            roi = (x, y, w, h)
        old = self.cameras[cam].roi
        self.cameras[cam] = self.cameras[cam].model_copy(update={"roi": roi})
        self._audit("roi", target=cam, old=list(old) if old else None, new=list(roi) if roi else None)
        if self.pipeline is not None:
            self.pipeline.set_roi(cam, roi)
        log.info("roi changed", extra={"fields": {"camera": cam, "roi": list(roi) if roi else "full frame"}})

    def _audit(self, action: str, **entry: object) -> None:
        """An engineer's change in the station's audit trail (`<data_dir>/audit.jsonl`); a GUI started without
        a station config (--model/--source) changes nothing that outlives it and keeps no trail."""
        if (path := self.audit_path) is not None:
            record_safely(path, action, who=f"gui:{operator_name()}", why="engineer panel", **entry)  # type: ignore[arg-type]

    def roi_warning(self, cam: str, roi: tuple[int, int, int, int] | None) -> str:
        """Plain words when `roi` is not the geometry the model was calibrated with (the station config's)."""
        calibrated = self._calibrated_roi.get(cam)
        if roi == calibrated:
            return ""
        was = "whole frames" if calibrated is None else f"ROI {list(calibrated)}"
        now = "the whole frame" if roi is None else f"ROI {list(roi)} ({roi[2]}x{roi[3]} pixels)"
        return (
            f"The model's threshold was calibrated on {was} of camera {cam}. With {now} the scores change and "
            "many parts may turn NG. Watch the verdicts, set the threshold again (Threshold, above) or retrain "
            "on this ROI."
        )

    def load_bundle(self, path: Path) -> Future:
        """Verify a bundle in the background and swap it in; on failure the running model keeps going."""
        return self.submit(self._load_bundle, Path(path))

    def _load_bundle(self, path: Path) -> bool:
        try:
            engine = self._engine_factory(self.config, path)
        except BundleError as exc:
            log.error(
                "bundle refused; the running model keeps going",
                extra={"fields": {"path": str(path), "error": exc.message, "fix": exc.fix}},
            )
            keeps = " The running model keeps going." if self.pipeline is not None else ""
            self.messages.append(Message("error", f"Model {path.name} refused: {exc.message}.{keeps}"))
            return False
        if self.station is None:
            self._launch(engine)
        else:
            self.station.swap_engine(engine)
        self.messages.append(Message("info", f"Model {path.name} loaded (threshold {engine.threshold:.3g})."))
        log.info("bundle loaded", extra={"fields": {"path": str(path), "model": engine.fingerprint[:16]}})
        return True

    def update_camera(self, cam: str, **changes: Any) -> Future:
        """Apply new camera settings (CameraConfig fields, `source` merged) by restarting the cameras.

        Checked first with the station config's rules: a refused change raises InspectorError naming the
        setting, and the running settings stay.
        """
        raw = self.cameras[cam].table(**changes)
        try:
            checked = check_camera(raw, f"camera {cam}")
        except InspectorError as exc:
            message = exc.message.replace("cameras[0].", "")
            log.warning("camera settings refused", extra={"fields": {"camera": cam, "error": message}})
            raise InspectorError(
                f"Camera settings not applied: {message}", f"{exc.fix}; {cam} keeps its running settings"
            ) from exc
        self.cameras[cam] = checked
        return self.submit(self._restart)

    def _restart(self) -> None:
        station = self.station
        if station is None:
            return
        self._restarting = True
        try:
            station.stop()
            with self._lock:
                if self._closed:
                    return
                station.rebuild(list(self.cameras.values()))  # the sinks' context follows the new pipeline
                station.start()
            self._errors_seen = 0
            self.messages.append(Message("info", "Camera settings applied."))
        finally:
            self._restarting = False
