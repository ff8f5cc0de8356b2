"""The synthetic production line as a camera: procedural OK/NG parts with known truth."""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np

from inspector.live.settings import MAX_FRAME_SIDE, setting
from inspector.live.sources.base import Pacer, Source, SourceSettings, register_source
from inspector.synthetic import STYLES, SyntheticLine


class SyntheticSettings(SourceSettings):
    fps: float = setting(10.0, help="parts per second", ge=0)
    size: int = setting(128, help="image side in pixels", ge=16, le=MAX_FRAME_SIDE)
    ng_rate: float = setting(0.2, help="fraction of defective parts", ge=0, le=1)
    seed: int = setting(0, help="random seed (same seed, same parts)")
    style: Literal[STYLES] = setting(  # type: ignore[valid-type]
        "brushed",
        help="surface: " + " or ".join(f"`{name}`" for name in STYLES),
        problem="{input!r} is not a surface style",
        fix=f"use one of {', '.join(STYLES)}",
    )
    pool: int = setting(
        0,
        help="pre-render this many parts and cycle through them (`0`: a new part per frame); "
        "frees the CPU rendering takes, for benchmarks and small boxes",
        ge=0,
    )


@register_source("synthetic")
class SyntheticSource(Source):
    live = False
    Settings = SyntheticSettings

    def open(self) -> None:
        size = int(self.options["size"])
        self._line = SyntheticLine(
            seed=int(self.options["seed"]),
            size=(size, size),
            ng_rate=float(self.options["ng_rate"]),
            style=str(self.options["style"]),
        )
        self._pacer = Pacer(float(self.options["fps"]), self.clock, self.sleep)
        self.truth: deque[str] = deque(maxlen=1024)  # labels of the parts delivered, newest last
        self._pool = [next(self._line) for _ in range(max(0, int(self.options["pool"])))]
        self._served = 0

    def read(self) -> np.ndarray:
        if self._pool:
            part = self._pool[self._served % len(self._pool)]
            self._served += 1
        else:
            part = next(self._line)
        self.truth.append(part.label)
        return part.image
