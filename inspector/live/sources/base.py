"""Source base and registry: each kind declares its settings model (`Settings`), so configs are validated by kind."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import ValidationError

from inspector.live.settings import ConfigModel, explained

SOURCES: dict[str, type[Source]] = {}

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")


def redact_url(text: str) -> str:
    """Replace user:password in every URL inside `text` with ***; safe on any string."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", str(text))


class SourceError(Exception):
    """A camera cannot be opened or read (the runner marks it DOWN and reconnects)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_url(message))


class FrameError(SourceError):
    """One frame cannot be used (an undecodable file) but the source is fine: the camera reports it and reads on."""


class SourceSettings(ConfigModel):
    """The settings of one source kind (the `[cameras.source]` table less `kind`); subclasses add fields."""


def register_source(kind: str) -> Callable[[type[Source]], type[Source]]:
    """Class decorator: make a source kind available to station configs by name."""

    def decorate(cls: type[Source]) -> type[Source]:
        cls.kind = kind
        if "Settings" in cls.__dict__:  # its own model: "unknown key for source kind 'folder'"
            cls.Settings.what = f" for source kind {kind!r}"
        SOURCES[kind] = cls
        return cls

    return decorate


class Source:
    """One camera connection. `read()` returns a uint8 RGB HxWx3 frame or raises SourceError.

    A Source instance is opened once; the runner makes a new instance to reconnect, so a read that
    hangs forever in a driver never blocks the next connection. `live` sources are read as fast as
    they deliver (to keep their buffers fresh); the others are paced by the runner.
    """

    kind = "base"
    live = True
    Settings: type[SourceSettings] = SourceSettings

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Any,
    ) -> None:
        try:
            self.options = dict(self.Settings.model_validate(settings))  # defaults filled in, values checked
        except ValidationError as exc:
            loc, problem, fix = explained(exc)[0]
            raise SourceError(f"source kind {self.kind!r}: {loc}: {problem} ({fix})") from None
        self.clock = clock
        self.sleep = sleep
        self._pacer: Pacer | None = None  # set by paced (non-live) kinds in open()

    def open(self) -> None:
        """Connect; raise SourceError when the camera is not there."""

    def pace(self) -> None:
        """Wait for the next frame slot of a paced kind (called before read(), outside its timing)."""
        if self._pacer is not None:
            self._pacer.wait()

    def read(self) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; must be safe to call twice and after a failed open."""

    def describe(self) -> str:
        """A one-line, credential-free description for logs."""
        shown = {k: v for k, v in self.options.items() if v is not None}
        return redact_url(f"{self.kind}({', '.join(f'{k}={v}' for k, v in sorted(shown.items()))})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def create_source(kind: str, settings: Mapping[str, Any], **runtime: Any) -> Source:
    """Instantiate a registered kind with its settings (already validated by the config loader)."""
    if kind not in SOURCES:
        raise SourceError(f"unknown source kind {kind!r} (known: {sorted(SOURCES)})")
    return SOURCES[kind](**dict(settings), **runtime)


def check_frame(frame: Any, what: str) -> np.ndarray:
    """A decoded frame must be uint8 HxWx3; anything else is a read failure."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise SourceError(f"{what}: delivered {type(frame).__name__} {shape}, not a uint8 RGB frame")
    return frame


class Pacer:
    """Spaces calls `1/fps` apart on an injected clock (fps <= 0: no pacing)."""

    def __init__(self, fps: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / fps if fps and fps > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = max(now, self._next or now) + self.interval
