"""The test split scored in chunks: loaded, aligned and scored a few images at a time, by every candidate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.alignment import align_all
from training.anomaly_model import AnomalyMap
from training.candidates import Extract
from training.geometry import Geometry
from training.heads import Scorer
from training.images import load_samples

TEST_CHUNK = 32
"""Test images loaded, aligned and scored at a time: their features never all sit in memory (a test split of
500 images of 25 tiles would hold 7.8 GB of them)."""


@dataclass
class SplitScores:
    """Every candidate's scores on a split, and the chosen one's maps, with the masks."""

    scores: dict[str, np.ndarray]
    maps: np.ndarray
    masks: list
    not_found: int


def score_split(
    samples: list,
    geometry: Geometry,
    extract: Extract,
    post: AnomalyMap,
    alignment: dict | None,
    scorers: dict[str, Scorer],
    chosen: str | None,
    desc: str = "test features",
) -> SplitScores:
    """Load, align and score `samples` (the test split, or goods left out of the fit) in chunks of TEST_CHUNK
    images with every scorer; the maps of `chosen` only (of none for None), at the input size."""
    size, policy = geometry.input_size, geometry.resize
    scores: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
    maps: list[np.ndarray] = []
    masks: list = []
    not_found = 0
    for start in range(0, len(samples), TEST_CHUNK):
        chunk = samples[start : start + TEST_CHUNK]  # masks only with maps: they are for the pixel metrics
        images, chunk_masks = load_samples(chunk, size, with_masks=chosen is not None, policy=policy)
        images, chunk_masks, missing = align_all(images, chunk_masks, alignment)
        features = extract(images, f"{desc} {start + len(images)}/{len(samples)}")
        del images
        for name, scorer in scorers.items():
            chunk_scores, chunk_maps = scorer(features, keep_maps=name == chosen)
            scores[name].append(chunk_scores)
            if name == chosen:
                maps.extend(chunk_maps)
        masks.extend(chunk_masks or [])
        not_found += missing
    empty = np.zeros(0, np.float32)
    return SplitScores(
        {name: np.concatenate(parts) if parts else empty for name, parts in scores.items()},
        np.stack(maps) if maps else np.zeros((0, *post.output_size), np.float32),
        masks,
        not_found,
    )
