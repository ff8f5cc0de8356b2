"""Loading dataset samples for training: decoded once, resized to the model size, errors named."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from inspector.data.dataset import Sample
from inspector.errors import DatasetError, ImageReadError
from inspector.geometry import fit_mask, prepare
from inspector.imageio import read_image, read_mask


def _load(sample: Sample, size: tuple[int, int], with_mask: bool, policy: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        image = read_image(sample.path)
    except ImageReadError as exc:
        raise DatasetError(
            f"unreadable image in the dataset: {exc.message}", "replace or remove the file (and its manifest row)"
        ) from exc
    mask = None
    if with_mask and sample.mask is not None:
        try:
            full = read_mask(sample.mask)
        except ImageReadError as exc:
            raise DatasetError(f"unreadable mask: {exc.message}", "replace or remove the mask") from exc
        if full.shape != image.shape[:2]:
            raise DatasetError(
                f"mask {sample.mask} is {full.shape[1]}x{full.shape[0]} but its image {sample.path} is "
                f"{image.shape[1]}x{image.shape[0]}",
                "masks must have the size of their image: re-export the mask",
            )
        mask = fit_mask(full, size, policy)
    return prepare(image, size, policy), mask


def load_samples(
    samples: Sequence[Sample],
    size: tuple[int, int],
    *,
    with_masks: bool = False,
    workers: int = 2,
    policy: str = "stretch",
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Images (uint8 RGB at `size`, placed by the resize `policy`) and masks (bool, None where absent)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(lambda s: _load(s, size, with_masks, policy), samples))
    return [image for image, _ in loaded], [mask for _, mask in loaded]
