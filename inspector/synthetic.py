"""Deterministic procedural "parts" for unit tests, the demo model and a simulated camera line.

Good parts are statistically stationary textures ("brushed" grey metal or a coloured "woven"
fabric) that vary between parts; defects (scratch, spot, crack) are drawn on top and the mask is
exactly the set of pixels the defect changed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DEFECT_TYPES = ("scratch", "spot", "crack")
STYLES = ("brushed", "woven")
_STYLE_ALIASES = {"brushed": "brushed", "metal": "brushed", "woven": "woven", "fabric": "woven"}
_MASK_THRESHOLD = 12.0
"""A pixel belongs to the defect when some channel changed by at least this many grey levels;
smaller changes are undone so that image and mask agree exactly."""


@dataclass(frozen=True)
class Part:
    """One generated part: the image, its defect mask and its label."""

    image: np.ndarray  # uint8 RGB HxWx3
    mask: np.ndarray  # bool HxW, True on the defect
    label: str  # "good" or a defect type


# --------------------------------------------------------------------------- surfaces


def _gradient(rng: np.random.Generator, h: int, w: int, amplitude: float) -> np.ndarray:
    """A gentle linear illumination ramp in [-amplitude, amplitude], random direction."""
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.cos(theta) * (xx / max(w - 1, 1) - 0.5) + np.sin(theta) * (yy / max(h - 1, 1) - 0.5)
    return (2.0 * amplitude * ramp * rng.uniform(0.3, 1.0)).astype(np.float32)


def _motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    dx, dy = math.cos(math.radians(angle_deg)) * c, math.sin(math.radians(angle_deg)) * c
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return k / k.sum()


def _brushed(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Grey brushed metal: directional fine noise, illumination ramp, slight colour tint."""
    base = rng.uniform(120, 145)
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    streaks = cv2.filter2D(noise, -1, _motion_kernel(15, rng.normal(0, 3)), borderType=cv2.BORDER_REFLECT)
    streaks *= 14.0 / (streaks.std() + 1e-6)
    grain = rng.normal(0, 2.5, (h, w)).astype(np.float32)
    lum = base + streaks + grain + _gradient(rng, h, w, 12.0)
    tint = rng.normal(1.0, 0.025, 3).astype(np.float32)
    return lum[..., None] * tint[None, None, :]


_WOVEN_RGB = np.array([70.0, 115.0, 185.0], np.float32)


def _woven(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Coloured plain weave: alternating warp/weft thread cells with rounded shading."""
    period = int(rng.integers(6, 10))
    oy, ox = rng.integers(0, 2 * period, 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy += oy
    xx += ox
    cell = ((yy // period) + (xx // period)) % 2
    fy, fx = (yy % period) / period, (xx % period) / period
    # a horizontal thread is bright in its middle rows, a vertical one in its middle columns
    shade = np.where(cell == 0, np.sin(np.pi * fy), np.sin(np.pi * fx)).astype(np.float32)
    # one product colour (denim blue) with a small per-part dye-lot tint
    colour = _WOVEN_RGB * rng.normal(1.0, 0.04, 3).astype(np.float32)
    lum = 0.65 + 0.35 * shade + rng.normal(0, 0.04, (h, w)).astype(np.float32)
    lum += _gradient(rng, h, w, 0.08)
    return lum[..., None] * colour[None, None, :]


# --------------------------------------------------------------------------- defects


def _scratch(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    alpha = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        length = rng.uniform(0.25, 0.6) * s
        angle = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
        dx, dy = 0.5 * length * np.cos(angle), 0.5 * length * np.sin(angle)
        p1 = (round(cx - dx), round(cy - dy))
        p2 = (round(cx + dx), round(cy + dy))
        cv2.line(alpha, p1, p2, 1.0, int(rng.integers(1, 4)), cv2.LINE_AA)
    bright = rng.random() < 0.5
    target = np.full(3, 245.0 if bright else 25.0, np.float32)
    strength = rng.uniform(0.6, 0.85)
    a = (np.clip(alpha, 0, 1) * strength)[..., None]
    return img * (1 - a) + target * a


def _spot(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    r = rng.uniform(0.03, 0.08) * s
    axes = (max(2, round(r * rng.uniform(0.8, 1.25))), max(2, round(r * rng.uniform(0.7, 1.0))))
    centre = (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h))
    ellipse = np.zeros((h, w), np.float32)
    cv2.ellipse(ellipse, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    sigma = max(0.8, 0.25 * r)
    blurred = cv2.GaussianBlur(ellipse, (0, 0), sigma)
    alpha = blurred / max(float(blurred.max()), 1e-6)
    a = (alpha * rng.uniform(0.55, 0.8))[..., None]
    if rng.random() < 0.6:  # dark stain that keeps a little of the texture
        return img * (1 - a) + 0.25 * img * a
    return img * (1 - a) + 240.0 * a


def _walk(rng: np.random.Generator, start: np.ndarray, angle: float, n: int, step: float) -> np.ndarray:
    pts = [start]
    for _ in range(n):
        angle += rng.normal(0, 0.45)
        pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(pts)


def _crack(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    alpha = np.zeros((h, w), np.float32)
    step = max(2.0, s / 40)
    n = int(rng.uniform(0.3, 0.5) * s / step)
    start = np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
    angle = rng.uniform(0, 2 * np.pi)
    main = _walk(rng, start, angle, n, step)
    polylines = [main]
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(1, len(main)))
        branch_angle = angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
        polylines.append(_walk(rng, main[i], branch_angle, max(3, n // int(rng.integers(2, 4))), step))
    for k, line in enumerate(polylines):
        thickness = 2 if (k == 0 and s >= 96) else 1
        cv2.polylines(alpha, [np.round(line).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA)
    a = (np.clip(alpha, 0, 1) * rng.uniform(0.7, 0.9))[..., None]
    return img * (1 - a) + 0.15 * img * a


_DEFECTS = {"scratch": _scratch, "spot": _spot, "crack": _crack}


# --------------------------------------------------------------------------- parts


def make_part(
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (128, 128),
    defect: str | None = None,
    style: str = "brushed",
) -> Part:
    """One part of ``size`` = (height, width); ``defect`` None or "good" gives a good part."""
    if style not in _STYLE_ALIASES:
        raise ValueError(f"unknown style {style!r}; choose one of {sorted(_STYLE_ALIASES)}")
    if defect == "good":
        defect = None
    if defect is not None and defect not in _DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; choose one of {DEFECT_TYPES} or None")
    h, w = int(size[0]), int(size[1])
    if h < 16 or w < 16:
        raise ValueError(f"size {size} too small: at least 16x16 pixels")
    surface = _brushed if _STYLE_ALIASES[style] == "brushed" else _woven
    clean = np.clip(surface(rng, h, w), 0, 255).astype(np.float32)
    clean8 = np.round(clean).astype(np.uint8)
    if defect is None:
        return Part(clean8, np.zeros((h, w), bool), "good")
    image, mask = add_defect(rng, clean8, defect, clean)
    return Part(image, mask, defect)


def add_defect(
    rng: np.random.Generator, image: np.ndarray, defect: str, base: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`image` (uint8 RGB) with a drawn `defect`, and the exact mask of the pixels it changed."""
    clean = image.astype(np.float32) if base is None else base
    for _ in range(8):  # a defect almost never lands entirely below the threshold; retry if so
        drawn = np.round(np.clip(_DEFECTS[defect](rng, clean.copy()), 0, 255)).astype(np.uint8)
        diff = np.abs(drawn.astype(np.int16) - image.astype(np.int16)).max(axis=2)
        mask = diff >= _MASK_THRESHOLD
        if mask.sum() >= 4:
            return np.ascontiguousarray(np.where(mask[..., None], drawn, image)), mask
    raise RuntimeError("could not draw a visible defect")  # pragma: no cover


def _imwrite(path: Path, rgb_or_gray: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), arr):
        raise OSError(f"could not write {path}")


def write_dataset(
    root: Path,
    *,
    layout: str = "manifest",
    size: tuple[int, int] = (128, 128),
    n_train: int = 30,
    n_val: int = 10,
    n_test: int = 10,
    n_defect: int = 6,
    defect_types: tuple[str, ...] = DEFECT_TYPES,
    style: str = "brushed",
    seed: int = 0,
    image_format: str = "png",
) -> Path:
    """Write a synthetic dataset in the "manifest", "mvtec" or "folders" layout; returns root.

    Good parts: n_train train, n_val val, n_test test; each defect type: n_defect val and
    n_defect test. "mvtec" has no val split, so val images go to test/ as well (test/good gets
    n_val + n_test, test/<type> 2 * n_defect); "folders" holds every image without splits.
    For one seed the same parts are generated in every layout.
    """
    if layout not in ("manifest", "mvtec", "folders"):
        raise ValueError(f"unknown layout {layout!r}; choose manifest, mvtec or folders")
    for d in defect_types:
        if d not in _DEFECTS:
            raise ValueError(f"unknown defect type {d!r}; choose from {DEFECT_TYPES}")
    ext = image_format.lower().lstrip(".")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # (label, split) for every image, in a fixed order so the output is deterministic
    plan = [("good", "train")] * n_train + [("good", "val")] * n_val + [("good", "test")] * n_test
    for d in defect_types:
        plan += [(d, "val")] * n_defect + [(d, "test")] * n_defect
    counters: dict[str, int] = {}
    rows: list[dict[str, str]] = []
    for label, split in plan:
        part = make_part(rng, size=size, defect=None if label == "good" else label, style=style)
        i = counters[label] = counters.get(label, -1) + 1
        name = f"{i:03d}"
        if layout == "manifest":
            img_rel = f"images/{label}/{label}_{name}.{ext}"
            mask_rel = "" if label == "good" else f"masks/{label}/{label}_{name}.png"
            _imwrite(root / img_rel, part.image)
            if mask_rel:
                _imwrite(root / mask_rel, part.mask.astype(np.uint8) * 255)
            rows.append({"image": img_rel, "label": label, "split": split, "mask": mask_rel})
        elif layout == "mvtec":
            sub = "train" if split == "train" else "test"
            _imwrite(root / sub / label / f"{name}.{ext}", part.image)
            if label != "good":
                _imwrite(root / "ground_truth" / label / f"{name}_mask.png", part.mask.astype(np.uint8) * 255)
        else:
            _imwrite(root / label / f"{label}_{name}.{ext}", part.image)
    if layout == "manifest":
        with open(root / "split.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["image", "label", "split", "mask"])
            writer.writeheader()
            writer.writerows(rows)
    return root


class SyntheticLine:
    """An endless, seeded stream of parts from a simulated production line."""

    def __init__(
        self,
        *,
        seed: int = 0,
        size: tuple[int, int] = (128, 128),
        ng_rate: float = 0.2,
        style: str = "brushed",
        defect_types: tuple[str, ...] = DEFECT_TYPES,
    ) -> None:
        if not 0.0 <= ng_rate <= 1.0:
            raise ValueError(f"ng_rate must be in [0, 1], got {ng_rate}")
        if ng_rate > 0 and not defect_types:
            raise ValueError("ng_rate > 0 needs at least one defect type")
        self.size, self.ng_rate, self.style = size, ng_rate, style
        self.defect_types = tuple(defect_types)
        self._rng = np.random.default_rng(seed)

    def __iter__(self) -> SyntheticLine:
        return self

    def __next__(self) -> Part:
        defect = None
        if self._rng.random() < self.ng_rate:
            defect = self.defect_types[int(self._rng.integers(len(self.defect_types)))]
        return make_part(self._rng, size=self.size, defect=defect, style=self.style)
