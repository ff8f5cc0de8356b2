"""Synthetic defects on good validation images, for choosing a model when no real defects exist.

Kinds, drawn in turn: scratch, spot and crack (inspector.synthetic), a cut-and-paste patch of the
part itself (moved, flipped and shifted in brightness, as CutPaste), and a low-frequency noise blob
blending in an inverted patch of the surface (as DRAEM's Perlin masks, without a texture set).
Every defect is small against the part, as real ones are. Deterministic under the seed.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from inspector.synthetic import DEFECT_TYPES, add_defect

KINDS = (*DEFECT_TYPES, "cutpaste", "noise_blend")


class SyntheticDefect(NamedTuple):
    """A defective copy of good image `source`; `mask` is exactly where it changed."""

    image: np.ndarray
    mask: np.ndarray
    kind: str
    source: int


def _box(rng: np.random.Generator, h: int, w: int, frac: tuple[float, float]) -> tuple[int, int, int, int]:
    s = min(h, w)
    bh = max(4, int(s * rng.uniform(*frac)))
    bw = max(4, int(s * rng.uniform(*frac)))
    return int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1)), min(bh, h), min(bw, w)


def _cutpaste(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    top, left, bh, bw = _box(rng, h, w, (0.06, 0.16))
    src_top, src_left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    patch = image[src_top : src_top + bh, src_left : src_left + bw].astype(np.float32)
    patch = patch[::-1] if rng.random() < 0.5 else patch[:, ::-1]
    patch = np.clip(patch * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30), 0, 255)
    out = image.copy()
    out[top : top + bh, left : left + bw] = patch.astype(np.uint8)
    return _changed(out, image)


def _changed(drawn: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only changes of at least 12 grey levels, so that image and mask agree exactly."""
    mask = np.abs(drawn.astype(np.int16) - image.astype(np.int16)).max(axis=2) >= 12
    return np.where(mask[..., None], drawn, image), mask


def _noise_blend(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    top, left, bh, bw = _box(rng, h, w, (0.08, 0.2))
    coarse = rng.random((max(2, bh // 8), max(2, bw // 8))).astype(np.float32)
    blob = cv2.resize(coarse, (bw, bh), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:bh, 0:bw]
    fade = 1.0 - np.clip(np.hypot((yy - bh / 2) / (bh / 2), (xx - bw / 2) / (bw / 2)), 0, 1)
    alpha = np.clip((blob * fade - 0.25) * 3.0, 0, 1)[..., None] * rng.uniform(0.5, 0.9)
    region = image[top : top + bh, left : left + bw].astype(np.float32)
    out = image.copy()
    out[top : top + bh, left : left + bw] = np.clip(region * (1 - alpha) + (255.0 - region) * alpha, 0, 255).astype(
        np.uint8
    )
    return _changed(out, image)


def synthetic_defects(images: list[np.ndarray], count: int, seed: int = 0) -> list[SyntheticDefect]:
    """Up to `count` defective copies of the given good images, kinds in turn."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count if images else 0):
        source, kind = i % len(images), KINDS[i % len(KINDS)]
        image = images[source]
        if kind in DEFECT_TYPES:
            drawn, mask = add_defect(rng, image, kind)
        else:
            drawn, mask = (_cutpaste if kind == "cutpaste" else _noise_blend)(rng, image)
        if mask.sum() >= 4:
            out.append(SyntheticDefect(drawn, mask, kind, source))
    return out


def rescale_defects(defects: list[SyntheticDefect], goods: list[np.ndarray]) -> list[SyntheticDefect]:
    """The same physical defects on `goods`, the same good images at another input size.

    Drawn once at the finest geometry, so that a coarser view is judged on defects of the same size, not on
    lines drawn a few pixels wide at its own scale. Outside the defect the image is the good one as that view
    loads it; inside, the defect shrunk by area. A defect the view shrinks away still counts as one.
    """
    out = []
    for d in defects:
        good = goods[d.source]
        h, w = good.shape[:2]
        shrunk = cv2.resize(d.image, (w, h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(d.mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
        out.append(SyntheticDefect(np.where(mask[..., None], shrunk, good), mask, d.kind, d.source))
    return out
