"""The synthetic production line as a camera: procedural OK/NG parts with known truth."""

from __future__ import annotations

from collections import deque

import numpy as np

from inspector.live.sources.base import Field, Pacer, Source, register_source
from inspector.synthetic import SyntheticLine


@register_source("synthetic")
class SyntheticSource(Source):
    live = False
    settings = {
        "fps": Field((int, float), 10.0, help="parts per second"),
        "size": Field((int,), 128, help="image side in pixels"),
        "ng_rate": Field((int, float), 0.2, help="fraction of defective parts"),
        "seed": Field((int,), 0, help="random seed (same seed, same parts)"),
        "style": Field((str,), "brushed", help="surface: brushed or woven"),
        "pool": Field((int,), 0, help="pre-render this many parts and cycle through them (0: a new part per "
                                      "frame); frees the CPU that rendering takes, for benchmarks and small boxes"),
    }

    def open(self) -> None:
        size = int(self.options["size"])
        self._line = SyntheticLine(seed=int(self.options["seed"]), size=(size, size),
                                   ng_rate=float(self.options["ng_rate"]), style=str(self.options["style"]))
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
