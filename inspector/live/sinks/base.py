"""Sink base: a bounded queue and a worker thread per sink, so a slow sink never blocks inspection.

Every record handed to a sink ends in exactly one counter: `written`, `dropped` (queue full: the
oldest goes), `lost` (a write that still failed after its retries) or `lost_at_stop` (still queued when
the stop deadline passed), so `submitted == written + dropped + lost + lost_at_stop + queued`.

The queue is bounded in records (`queue_size`) and in image bytes (`max_image_bytes`): a sink that
does not want a record's pixels (`wants_image`) never holds them, and when the images queued behind a
stuck sink exceed the budget the oldest records lose their image first (`images_shed`), never the row.

A write raising `SinkUnavailable` (broker down) is retried until it succeeds or the sink is stopped:
the queue is the buffer during an outage. Any other error is retried `retries` times, then the record
is counted `lost`. `health()` names what is wrong (readiness includes it).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from inspector.live.alarms import AlarmEvent
from inspector.live.record import FrameRecord
from inspector.live.settings import ConfigModel
from inspector.live.snapshot import PipelineSnapshot, SinkSnapshot

log = logging.getLogger(__name__)

SINKS: dict[str, type[Sink]] = {}
DEFAULT_IMAGE_BYTES = 64 * 1024 * 1024


def register_sink(kind: str) -> Callable[[type[Sink]], type[Sink]]:
    """Class decorator: make a sink kind available to station configs by name (like timm's registry)."""

    def decorate(cls: type[Sink]) -> type[Sink]:
        cls.kind = kind
        if "Settings" in cls.__dict__:  # its own model: "unknown key for sink kind 'mqtt'"
            cls.Settings.what = f" for sink kind {kind!r}"
        SINKS[kind] = cls
        return cls

    return decorate


class SinkSettings(ConfigModel):
    """The `[sinks.<kind>]` table of one kind; each kind declares its subclass next to its code (`Sink.Settings`)."""


class PipelineView(Protocol):
    """What a sink may ask of the running pipeline (inspector.live.pipeline.Pipeline is one)."""

    @property
    def cameras(self) -> Mapping[str, Any]: ...

    def snapshot(self) -> PipelineSnapshot: ...

    def ready(self) -> bool: ...

    def trigger(self, camera: str | None = None) -> list[str]: ...


class SinkContext:
    """What a sink built from a station config may use besides its own settings: the station's name and the
    pipeline running *now*. The station builder (inspector.live.station) binds it, and binds it again after
    every restart; each call goes to the pipeline bound at that moment, so a sink never talks to a stopped one.
    Hand sinks the bound methods (`context.trigger`), never the pipeline's own."""

    def __init__(self, station: str, pipeline: PipelineView | None = None) -> None:
        self.station = station
        self._pipeline = pipeline
        self.handshake: Any = None  # inspector.live.handshake.Handshake once a [sinks.plc] sink is built
        self.recipes: Any = None  # inspector.live.recipes.Changeover, set by the station builder
        self.shadow: Any = None  # inspector.live.shadow.ShadowControl when the config has [shadow]
        self.golden: Any = None  # Station.run_self_test(trigger): the on-demand golden self-test
        self.self_test: Any = None  # inspector.live.golden.SelfTest: the last run and the block (OPC UA nodes)

    def bind(self, pipeline: PipelineView) -> None:
        """From now on every call goes to `pipeline` (and its frames to the PLC handshake, when there is one)."""
        self._pipeline = pipeline
        if self.handshake is not None:
            self.handshake.attach(pipeline)

    @property
    def pipeline(self) -> PipelineView | None:
        return self._pipeline

    def snapshot(self) -> PipelineSnapshot:
        """The bound pipeline's counters (/metrics, /readyz); LookupError before one is bound."""
        pipeline = self._pipeline
        if pipeline is None:
            raise LookupError(f"station {self.station}: no pipeline is running yet")
        return pipeline.snapshot()

    def ready(self) -> bool:
        """Model loaded, every camera up, every sink healthy (False before a pipeline is bound)."""
        pipeline = self._pipeline
        return pipeline is not None and pipeline.ready()

    def trigger(self, camera: str | None = None) -> list[str]:
        """Trigger one camera id, or every externally triggered camera; returns those triggered."""
        pipeline = self._pipeline
        return [] if pipeline is None else pipeline.trigger(camera)

    def cameras(self) -> list[str]:
        """The camera ids of the bound pipeline."""
        pipeline = self._pipeline
        return [] if pipeline is None else list(pipeline.cameras)


@dataclass
class SinkStats:
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # queue full: oldest record discarded
    lost: int = 0  # records whose write still failed after every retry
    lost_at_stop: int = 0  # records still queued (or in flight) when the stop deadline passed
    failures: int = 0  # write attempts that raised
    images_shed: int = 0  # images dropped from queued records to stay under max_image_bytes (row kept)
    queued: int = 0
    queued_image_bytes: int = 0
    last_error: str = ""


class SinkUnavailable(ConnectionError):
    """The sink's far end is not there right now (broker down): retry until it is back or the sink stops."""


Queued = FrameRecord | AlarmEvent  # what a sink's queue holds: records, and alarm events for a sink that keeps them


def image_bytes(record: Queued) -> int:
    return 0 if not isinstance(record, FrameRecord) or record.image is None else int(record.image.nbytes)


def _what(item: Queued) -> str:
    if isinstance(item, AlarmEvent):
        return f"alarm {item.name} {item.state}"
    return f"camera {item.camera} frame {item.frame_id}"


class Sink:
    """Subclasses implement `write(record)` (and optionally `open()`/`close()`/`wants_image()`)."""

    kind = "base"
    Settings: type[SinkSettings] = SinkSettings
    keeps_alarms = False  # a sink that logs alarm transitions (sqlite) sets this and implements write_alarm

    def __init__(
        self,
        *,
        queue_size: int = 256,
        retries: int = 3,
        retry_delay: float = 0.5,
        max_image_bytes: int = DEFAULT_IMAGE_BYTES,
    ) -> None:
        self._queue: deque[Queued] = deque()
        self._queue_size = max(1, int(queue_size))
        self._max_image_bytes = int(max_image_bytes)
        self._cond = threading.Condition()
        self._retries = retries
        self._retry_delay = retry_delay
        self._thread: threading.Thread | None = None
        self._closing = False  # stop() asked: drain, then close
        self._abandoned = False  # the stop deadline passed: give up on what is left
        self._in_flight = False
        self._problem = ""  # why the sink is not healthy ("" when it is)
        self._open_failed = False  # open() raised and no write has succeeded since: the sink is dead
        self.stats = SinkStats()

    @classmethod
    def settings_of(cls, settings: SinkSettings | Mapping[str, Any]) -> Any:
        """The kind's settings model (a mapping is validated against `Settings` first)."""
        return settings if isinstance(settings, cls.Settings) else cls.Settings.model_validate(dict(settings))

    @classmethod
    def from_config(cls, settings: SinkSettings | Mapping[str, Any], context: SinkContext) -> Sink:
        """Build from the validated `[sinks.<kind>]` settings; kinds needing the context override this."""
        return cls(**dict(cls.settings_of(settings)))

    # ------------------------------------------------------------------ what subclasses implement
    def open(self) -> None:
        """Connect/prepare; called in the worker thread before the first write."""

    def close(self) -> None:
        """Release resources; called in the worker thread after the last write."""

    def write(self, record: FrameRecord) -> None:
        raise NotImplementedError

    def write_alarm(self, event: AlarmEvent) -> None:
        """Store one alarm transition (only sinks with `keeps_alarms`)."""
        raise NotImplementedError

    def wants_image(self, record: FrameRecord) -> bool:
        """Whether this sink will use the record's pixels (called once per record, in submit order)."""
        return False

    def health(self) -> str:
        """Why the sink cannot do its job right now ("" when it can); readiness lists it."""
        return self._problem

    def snapshot(self) -> SinkSnapshot:
        """A typed copy of this sink's counters (the pipeline's snapshot carries one per sink)."""
        return SinkSnapshot.of(self.kind, self.stats)

    @property
    def dead(self) -> bool:
        """The sink could not even open (bad path, port taken): the daemon must not report READY=1."""
        return self._open_failed

    # ------------------------------------------------------------------ the pipeline's side
    def start(self) -> None:
        self._closing = self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.kind}", daemon=True)
        self._thread.start()

    def submit(self, record: FrameRecord) -> None:
        """Queue a record without blocking; full queue: the oldest record goes (counted `dropped`)."""
        if record.image is not None and not self.wants_image(record):
            record = dataclasses.replace(record, image=None)
        self._enqueue(record)

    def alarm(self, event: AlarmEvent) -> None:
        """An alarm was raised or cleared (inspector.live.alarms): a sink that keeps them (`keeps_alarms`) queues
        it like a record, under the same rules; the others ignore it."""
        if self.keeps_alarms:
            self._enqueue(event)

    def _enqueue(self, record: Queued) -> None:
        with self._cond:
            self.stats.submitted += 1
            self._queue.append(record)
            self.stats.queued_image_bytes += image_bytes(record)
            while len(self._queue) > self._queue_size:
                oldest = self._queue.popleft()
                self.stats.queued_image_bytes -= image_bytes(oldest)
                self.stats.dropped += 1
            self._shed_images()
            self.stats.queued = len(self._queue)
            self._cond.notify_all()

    def _shed_images(self) -> None:
        """Drop the pixels of the oldest queued records until the queued images fit the byte budget."""
        index = 0
        while self.stats.queued_image_bytes > self._max_image_bytes and index < len(self._queue):
            record = self._queue[index]
            if isinstance(record, FrameRecord) and record.image is not None:
                self.stats.queued_image_bytes -= image_bytes(record)
                self._queue[index] = dataclasses.replace(record, image=None, image_shed=True)
                self.stats.images_shed += 1
            index += 1

    def begin_stop(self) -> None:
        """Ask the worker to drain what is queued and close (stop() then waits for it)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> bool:
        """Drain the queue within `timeout`, then close. False (and `lost_at_stop` counted) if records remain."""
        if self._thread is None:
            return True
        self.begin_stop()
        self._thread.join(max(0.0, timeout))
        clean = True
        if self._thread.is_alive():
            with self._cond:
                self._abandoned = True
                left = len(self._queue) + (1 if self._in_flight else 0)
                self.stats.lost_at_stop += left
                self._queue.clear()
                self.stats.queued = self.stats.queued_image_bytes = 0
                self._cond.notify_all()
            clean = left == 0
            if left:
                log.error("sink %s: %d record(s) not written before the stop deadline", self.kind, left)
            self._thread.join(0.2)
        self._thread = None
        return clean

    # ------------------------------------------------------------------ the worker thread
    def _run(self) -> None:
        try:
            self.open()
        except Exception as exc:  # noqa: BLE001 (a sink that cannot open must not take the pipeline down)
            self._note_failure(f"cannot open: {exc}")
            self._open_failed = True
            log.error("sink %s failed to open: %s", self.kind, exc)
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abandoned or not self._queue:
                    break
                record = self._queue.popleft()
                self.stats.queued_image_bytes -= image_bytes(record)
                self.stats.queued = len(self._queue)
                self._in_flight = True
            self._write_with_retries(record)
            with self._cond:
                self._in_flight = False
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 (closing errors are logged, never raised into the pipeline)
            log.error("sink %s failed to close: %s", self.kind, exc)

    def _note_failure(self, message: str) -> None:
        self.stats.failures += 1
        self.stats.last_error = message
        self._problem = message

    def _wait(self, seconds: float) -> bool:
        """Sleep between retries; False when the stop deadline passed meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: self._abandoned, timeout=seconds)
            return not self._abandoned

    def _write_with_retries(self, record: Queued) -> None:
        attempt = 0
        while True:
            try:
                if isinstance(record, FrameRecord):
                    self.write(record)
                else:
                    self.write_alarm(record)
            except SinkUnavailable as exc:  # an outage: the queue buffers, keep trying until stopped
                self._note_failure(f"unavailable: {exc}")
                if not self._wait(self._retry_delay):
                    return  # counted in lost_at_stop by stop()
                continue
            except Exception as exc:  # noqa: BLE001 (any other sink error is counted and retried, never propagated)
                self._note_failure(str(exc))
                log.warning("sink %s write failed (attempt %d): %s", self.kind, attempt + 1, exc)
                attempt += 1
                if attempt > self._retries or not self._wait(self._retry_delay):
                    if attempt > self._retries:
                        self.stats.lost += 1
                        log.error("sink %s lost %s after %d attempts: %s", self.kind, _what(record), attempt, exc)
                    return
                continue
            self.stats.written += 1
            self._problem = ""
            self._open_failed = False
            return
