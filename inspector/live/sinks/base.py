"""Sink base: a bounded queue and a worker thread per sink, so a slow sink never blocks inspection."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from inspector.live.record import FrameRecord

log = logging.getLogger(__name__)

SINKS: dict[str, type["Sink"]] = {}


def register_sink(kind: str) -> Callable[[type["Sink"]], type["Sink"]]:
    """Class decorator: make a sink kind available to station configs by name (like timm's registry)."""

    def decorate(cls: type[Sink]) -> type[Sink]:
        cls.kind = kind
        SINKS[kind] = cls
        return cls

    return decorate


@dataclass
class SinkContext:
    """What a sink built from a station config may use besides its own settings table."""

    station: str
    snapshot: Callable[[], dict] = dict  # Pipeline.snapshot: counters for /metrics and status
    ready: Callable[[], bool] = lambda: False  # Pipeline.ready: model and every camera up
    trigger: Callable[[str | None], list[str]] = lambda camera=None: []  # Pipeline.trigger(camera id or None)


@dataclass
class SinkStats:
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # queue full: oldest record discarded
    failures: int = 0  # write attempts that raised
    last_error: str = ""


class Sink:
    """Subclasses implement `write(record)` (and optionally `open()`/`close()`); failures are retried."""

    kind = "base"

    def __init__(self, *, queue_size: int = 256, retries: int = 3, retry_delay: float = 0.5) -> None:
        self._queue: queue.Queue[FrameRecord | None] = queue.Queue(maxsize=queue_size)
        self._retries = retries
        self._retry_delay = retry_delay
        self._thread: threading.Thread | None = None
        self.stats = SinkStats()

    @classmethod
    def from_config(cls, settings: dict, context: SinkContext) -> "Sink":
        """Build from the validated `[sinks.<kind>]` table; kinds needing the context override this."""
        return cls(**settings)

    def open(self) -> None:
        """Connect/prepare; called in the worker thread before the first write."""

    def close(self) -> None:
        """Release resources; called in the worker thread after the last write."""

    def write(self, record: FrameRecord) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.kind}", daemon=True)
        self._thread.start()

    def submit(self, record: FrameRecord) -> None:
        """Queue a record without blocking; when full, the oldest queued record is dropped and counted."""
        self.stats.submitted += 1
        self._put_dropping_oldest(record)

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (within `timeout`), then close."""
        if self._thread is None:
            return
        self._put_dropping_oldest(None)  # the sentinel: the worker closes after it
        self._thread.join(timeout)
        self._thread = None

    def _put_dropping_oldest(self, item: FrameRecord | None) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        try:
            self.open()
        except Exception as exc:  # a sink that cannot open must not take the pipeline down
            self.stats.failures += 1
            self.stats.last_error = f"open: {exc}"
            log.error("sink %s failed to open: %s", self.kind, exc)
        while True:
            record = self._queue.get()
            if record is None:
                break
            self._write_with_retries(record)
        try:
            self.close()
        except Exception as exc:  # closing errors are logged, never raised into the pipeline
            log.error("sink %s failed to close: %s", self.kind, exc)

    def _write_with_retries(self, record: FrameRecord) -> None:
        for attempt in range(self._retries + 1):
            try:
                self.write(record)
                self.stats.written += 1
                return
            except Exception as exc:  # any sink error is counted and retried, never propagated
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                log.warning("sink %s write failed (attempt %d): %s", self.kind, attempt + 1, exc)
                if attempt < self._retries:
                    time.sleep(self._retry_delay)
