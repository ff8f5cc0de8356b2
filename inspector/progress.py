"""A tiny progress bar on stderr (images/s and ETA); tqdm is not a runtime dependency."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:d}:{rest % 60:02d}"


class Progress:
    """`update(n)` as work completes; redraws at most every `interval` s (every 10 s when not a terminal)."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        unit: str = "img",
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float = 0.25,
    ) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else 10.0
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * 24) + "." * (24 - int(frac * 24))
        return (
            f"{self.label}[{bar}] {self.done}/{self.total} {rate:.1f} {self.unit}/s "
            f"elapsed {_clock(time.perf_counter() - self.start)} ETA {_clock(eta)}"
        )

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.interval or self.done >= self.total):
            self._last = now
            self.stream.write(("\r" if self.tty else "") + self.line() + ("" if self.tty else "\n"))
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write(("\r" + self.line() + "\n") if self.tty else "")
            self.stream.flush()
