"""One thread per camera: open/read with timeouts, DOWN + reconnect with capped exponential backoff.

Every driver call runs in a reader thread owned by one connection; the camera thread only waits
for it up to the timeout. A call that hangs forever strands that reader (it is retired, the source
closed when the call returns) and the next connection gets a fresh source and reader, so a stuck
driver can never hang the pipeline. Blank frames and frames identical to the previous one (a
stalled capture) are never passed on; only-such frames for longer than the read timeout mark DOWN.
The previous frame is kept across reconnects, so a frozen camera's frame is not a new part after each
reconnect. A `FrameError` (one undecodable file of a folder) is one reported error; the source goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np

from inspector.live.config import CameraConfig
from inspector.live.sources import Source, SourceError, create_source, redact_url
from inspector.live.sources.base import FrameError, check_frame

log = logging.getLogger(__name__)


class CameraState(str, Enum):
    STARTING = "STARTING"
    UP = "UP"
    DOWN = "DOWN"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class Frame:
    """One grabbed frame on its way to inspection."""

    camera: str
    frame_id: int
    image: np.ndarray  # uint8 RGB HxWx3, the full frame
    captured_at: float  # wall clock (time.time()) at the end of the grab
    captured_mono: float  # the camera's clock at the end of the grab (frame age is measured from it)
    capture_ms: float
    part_id: str = ""  # set by the PLC handshake when the frame is queued (Pipeline.offer)


@dataclass
class CameraStats:
    state: str = CameraState.STARTING.value
    frames: int = 0  # frames passed on to inspection
    rejected_blank: int = 0
    rejected_repeat: int = 0
    skipped: int = 0  # frames read but not wanted (above max_fps, or no trigger pending)
    triggers: int = 0
    connects: int = 0
    failures: int = 0  # open/read failures and timeouts
    bad_frames: int = 0  # frames the source could not decode (reported as errors; the source goes on)
    last_error: str = ""
    last_frame_mono: float | None = None
    backoff_s: float = 0.0


class ReadTimeout(SourceError):
    """A driver call took longer than its timeout."""


class _Reader:
    """A thread that runs one connection's driver calls; abandoned (not joined) if a call hangs."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue[tuple[Callable[[], Any], dict] | None] = queue.Queue()
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, box = item
            try:
                box["value"] = fn()
            except Exception as exc:  # noqa: BLE001 (any driver error is handed to the camera thread, which decides)
                box["error"] = exc
            box["done"].set()

    def call(self, fn: Callable[[], Any], timeout: float, what: str) -> Any:
        box: dict[str, Any] = {"done": threading.Event()}
        self._calls.put((fn, box))
        if not box["done"].wait(timeout):
            raise ReadTimeout(f"{what} took longer than {timeout:g} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def retire(self, cleanup: Callable[[], Any]) -> threading.Event:
        """Run `cleanup` after the current call (however long it takes), then end the thread."""
        done = threading.Event()
        self._calls.put((cleanup, {"done": done}))
        self._calls.put(None)
        return done


def is_blank(image: np.ndarray) -> bool:
    """A frame with (almost) one value everywhere: a black/grey substitute, not a picture."""
    sample = image[::4, ::4]
    return int(sample.max()) - int(sample.min()) <= 2


class Camera:
    """Runs one camera; calls `on_frame(Frame)` (which must not block) for every good, wanted frame."""

    def __init__(
        self,
        config: CameraConfig,
        on_frame: Callable[[Frame], None],
        *,
        source_factory: Callable[[], Source] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        wall: Callable[[], float] = time.time,
        on_error: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.config = config
        self._on_error = on_error
        self.id = config.id
        self._on_frame = on_frame
        self._clock, self._wall = clock, wall
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._factory = source_factory or (
            lambda: create_source(config.kind, config.source, clock=self._clock, sleep=self._sleep)
        )
        self._trigger = threading.Event()
        self._trigger_at: float | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._released: list[threading.Event] = []
        self._previous: np.ndarray | None = None
        self._next_slot = 0.0
        self._frame_id = 0
        self.stats = CameraStats()

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> CameraState:
        return CameraState(self.stats.state)

    @property
    def external(self) -> bool:
        """Grabs only after a software trigger (`hardware` cameras deliver a frame per line trigger by themselves)."""
        return self.config.trigger not in ("free", "hardware")

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.id}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop without waiting (stop() then joins)."""
        self._stopping.set()
        self._trigger.set()

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop grabbing and release the device; True when the source was closed within `timeout`."""
        self._stopping.set()
        self._trigger.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        released = all(e.wait(max(0.0, deadline - time.monotonic())) for e in self._released)
        self._set_state(CameraState.STOPPED)
        return released

    def trigger(self) -> None:
        """External trigger (MQTT / OPC UA handlers call this): the next frame grabbed after now is inspected."""
        with self._lock:
            self.stats.triggers += 1
            self._trigger_at = self._clock()
        self._trigger.set()

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self.stats)
        last = data.pop("last_frame_mono")
        data["last_frame_age_s"] = None if last is None else max(0.0, self._clock() - last)
        data["last_error"] = redact_url(data["last_error"])
        return data

    # ------------------------------------------------------------------ the thread
    def _set_state(self, state: CameraState, reason: str = "") -> None:
        if self.stats.state != state.value:
            level = logging.WARNING if state is CameraState.DOWN else logging.INFO
            log.log(
                level,
                "camera state",
                extra={"fields": {"camera": self.id, "state": state.value, "reason": redact_url(reason)}},
            )
        self.stats.state = state.value

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            source = self._factory()
            reader = _Reader(f"reader-{self.id}")
            what = redact_url(source.describe())
            try:
                reader.call(source.open, self.config.open_timeout_s, f"{what}: open")
                self.stats.connects += 1
                self._set_state(CameraState.UP, what)
                delivered = self._grab_loop(source, reader, what)
                if delivered:
                    attempt = 0
            except Exception as exc:  # noqa: BLE001 (driver or source error: DOWN, reconnect, never crash)
                self.stats.failures += 1
                self.stats.last_error = redact_url(str(exc))
                self._set_state(CameraState.DOWN, self.stats.last_error)
            finally:
                self._released = [e for e in self._released if not e.is_set()]
                self._released.append(reader.retire(source.close))
            if self._stopping.is_set():
                break
            delay = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2**attempt)
            self.stats.backoff_s = delay
            attempt += 1
            self._sleep(delay)

    def _grab_loop(self, source: Source, reader: _Reader, what: str) -> bool:
        """Read until stopped (returns) or a failure (raises). Returns whether a frame was delivered."""
        delivered = False
        last_good = self._clock()
        timeout = self.config.read_timeout_s
        interval = 1.0 / self.config.max_fps
        while not self._stopping.is_set():
            if self.external and not source.live and not self._wait_trigger():
                continue
            if not self.external and not source.live:
                now = self._clock()
                if now < self._next_slot:
                    self._sleep(self._next_slot - now)
                    continue
            source.pace()
            if self._stopping.is_set():
                break
            start = self._clock()
            try:
                image = check_frame(reader.call(source.read, timeout, f"{what}: read"), what)
            except FrameError as exc:  # one bad frame (an undecodable file): an error, not a dead camera
                self.stats.bad_frames += 1
                self._on_error(f"camera {self.id}: {exc}")
                if self._clock() - last_good > timeout:
                    raise SourceError(f"{what}: only undecodable frames for {self._clock() - last_good:.1f} s") from exc
                continue
            end = self._clock()
            if not self._good(image):
                if end - last_good > timeout:
                    raise SourceError(f"{what}: only blank or repeated frames for {end - last_good:.1f} s (stalled)")
                continue
            last_good = end
            if not self._wanted(start, end, interval):
                self.stats.skipped += 1
                continue
            self._frame_id += 1
            self.stats.frames += 1
            self.stats.last_frame_mono = end
            delivered = True
            self._on_frame(Frame(self.id, self._frame_id, image, self._wall(), end, (end - start) * 1000))
        return delivered

    def _wait_trigger(self) -> bool:
        self._trigger.wait(0.5)
        return self._trigger.is_set() and not self._stopping.is_set()

    def _good(self, image: np.ndarray) -> bool:
        if is_blank(image):
            self.stats.rejected_blank += 1
            return False
        previous, self._previous = self._previous, image
        if (
            self.config.reject_repeats
            and previous is not None
            and previous.shape == image.shape
            and np.array_equal(previous, image)
        ):
            self.stats.rejected_repeat += 1
            return False
        return True

    def _wanted(self, start: float, end: float, interval: float) -> bool:
        if self.config.trigger == "hardware":  # every frame is a part the line triggered
            return True
        if self.external:
            with self._lock:
                if self._trigger_at is None or start < self._trigger_at:
                    return False
                self._trigger_at = None
                self._trigger.clear()
            return True
        if end < self._next_slot:
            return False
        self._next_slot = max(self._next_slot + interval, end + interval / 2)  # no burst after a pause
        return True
