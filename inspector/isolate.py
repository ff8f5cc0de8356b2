"""One bad image must not take its batch with it: inspect a batch, and on failure each image alone.

Shared by the live pipeline and `inspector batch`: an image whose inference fails (a NaN score, a
shape the model refuses) becomes one error with its reason; the others get their results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inspector.engine import Engine, View
from inspector.result import InspectionResult


def inspect_each(
    engine: Engine, images: Sequence[np.ndarray | View], *, prepared: bool = False
) -> list[InspectionResult | Exception]:
    """A result or the exception it raised, per image, in order (one batched call when all are fine)."""
    if not len(images):
        return []
    try:
        return list(engine.inspect(images, prepared=prepared))
    except Exception as exc:  # noqa: BLE001 (some image in the batch is bad: find which, inspect the rest alone)
        if len(images) == 1:
            return [exc]
    out: list[InspectionResult | Exception] = []
    for image in images:
        out += inspect_each(engine, [image], prepared=prepared)
    return out
