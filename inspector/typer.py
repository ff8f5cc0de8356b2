"""The defect typer: a classify bundle of defect types only (role `typer`) chained after the verdict model.

The verdict model decides OK / NG / UNSURE; the typer only names the type of each NG part (its arg-max class
and probability). Its own score never decides anything (docs/classification.md#typer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.bundle.session import Bundle
from inspector.errors import BundleError
from inspector.geometry import prepare

UNTYPED = "untyped"


@dataclass(frozen=True)
class DefectType:
    """The typer's answer for one NG part."""

    name: str
    probability: float


class Typer:
    """Runs a verified typer bundle on RGB images of any size, in micro-batches of `max_batch`."""

    def __init__(self, bundle: Bundle, *, max_batch: int = 8) -> None:
        meta = bundle.metadata
        if not meta.is_typer:
            raise BundleError(
                f"{bundle.path}: a {meta.task} bundle with classes {meta.class_names} is not a typer",
                "chain a bundle trained with `inspector train --task classify` on defect types only (no good class)",
            )
        self.bundle = bundle
        self.max_batch = max(1, int(max_batch))

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    @property
    def class_names(self) -> list[str]:
        return list(self.bundle.metadata.class_names)

    def name(self, images: Sequence[np.ndarray]) -> list[DefectType]:
        """The most probable defect type of each image (uint8 RGB HxWx3, resized as the typer's bundle says)."""
        if not len(images):
            return []
        meta = self.bundle.metadata
        batch = np.stack([prepare(image, meta.input_size, meta.resize, meta.alignment) for image in images])
        probs = []
        for start in range(0, len(batch), self.max_batch):
            probs.append(self.bundle.session.run(["probs"], {"image": batch[start : start + self.max_batch]})[0])
        rows = np.concatenate(probs)
        names = meta.class_names
        return [DefectType(names[int(np.argmax(row))], float(np.max(row))) for row in rows]


def pareto(types: Iterable[str | None]) -> list[tuple[str, int, float]]:
    """NG parts by defect type, most frequent first: (type, parts, cumulative share); an NG part the typer did
    not name (no typer at the time) counts as "untyped"."""
    counts = Counter(t or UNTYPED for t in types)
    total = sum(counts.values())
    rows, running = [], 0
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        running += count
        rows.append((name, count, running / total))
    return rows
