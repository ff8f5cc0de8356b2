"""The model's input geometry, read from the training images: size, resize policy and tiling.

Rules (nothing here is tuned to one dataset):
- when the training images' aspect ratios vary by more than 15 % between the 10th and 90th
  percentile, no single aspect ratio is right: the view is square and the bundle says `stretch`;
  otherwise the view keeps their median aspect ratio and the bundle says `letterbox` (a frame of
  the usual shape is never distorted);
- the view has about `base`² pixels (256² by default), each side a multiple of 32;
- when that view would shrink the median image by more than 2x per side, small defects would vanish:
  the model tiles instead. Overlapping `base` x `base` tiles (overlap at least base/8) cover the
  image at native resolution, or at the scale that keeps it within `MAX_TILES` tiles (the memory
  bound: one image's tiles go through the feature extractor as one batch).
Tiling by this rule is a proposal, not an assumption: `geometry_options` adds the one view beside it, and
training fits and judges both (detection on real, else synthetic, validation defects), as it does alignment.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from inspector.errors import InspectorError

STRIDE = 32
"""Input sides are multiples of the backbone's total stride."""
MAX_SHRINK = 2.0
MAX_TILES = 32
ASPECT_SPREAD = 1.15


@dataclass(frozen=True)
class Geometry:
    """Input size, resize policy and, when tiled, the tile size and tile offsets per axis (pixels)."""

    input_size: tuple[int, int]
    resize: str
    tile: tuple[int, int] | None = None
    row_offsets: tuple[int, ...] = ()
    col_offsets: tuple[int, ...] = ()
    reason: str = ""

    @property
    def tiled(self) -> bool:
        return self.tile is not None

    @property
    def view(self) -> tuple[int, int]:
        """What the feature extractor sees: one tile, or the whole input."""
        return self.tile if self.tile is not None else self.input_size

    @property
    def num_tiles(self) -> int:
        return max(1, len(self.row_offsets) * len(self.col_offsets))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["num_tiles"] = self.num_tiles
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        tile = d.get("tile")
        return cls(
            tuple(d["input_size"]),
            d["resize"],
            None if tile is None else tuple(tile),
            tuple(d.get("row_offsets", ())),
            tuple(d.get("col_offsets", ())),
            d.get("reason", ""),
        )


def _round(value: float, multiple: int = STRIDE) -> int:
    return max(multiple, round(value / multiple) * multiple)


def tile_offsets(length: int, tile: int, min_overlap: int) -> tuple[int, ...]:
    """Evenly spread offsets (multiples of 8, the patch stride) of tiles covering 0..length."""
    if length <= tile:
        return (0,)
    n = math.ceil((length - min_overlap) / (tile - min_overlap))
    return tuple(round(i * (length - tile) / (n - 1) / 8) * 8 for i in range(n))


def parse_size(text: str | int | None, what: str) -> tuple[int, int] | int | None:
    """`256` (a base side) or `HxW` (an exact size); each a multiple of 32, at least 32."""
    if text is None or isinstance(text, int):
        sizes = None if text is None else [text]
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(text))
        if not match:
            raise InspectorError(
                f"{what} {text!r} is not a size", f"use N or HxW in pixels, e.g. {what} 256 or 256x1024"
            )
        sizes = [int(g) for g in match.groups() if g is not None]
    if sizes is None:
        return None
    if any(s < 32 or s % STRIDE for s in sizes):
        raise InspectorError(
            f"{what} {text}: each side must be a multiple of {STRIDE}, at least 32", f"e.g. {what} 256 or 256x1024"
        )
    return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])


def _policy(sizes: np.ndarray) -> tuple[str, float]:
    log_aspect = np.log(sizes[:, 0] / sizes[:, 1])
    spread = float(np.exp(np.percentile(log_aspect, 90) - np.percentile(log_aspect, 10)))
    return ("stretch" if spread > ASPECT_SPREAD else "letterbox"), spread


def _tiled(native: tuple[float, float], tile_side: int, resize: str, why: str) -> Geometry:
    h, w = native
    scale = 1.0
    while True:
        size = (_round(h * scale), _round(w * scale))
        tile = (min(tile_side, size[0]), min(tile_side, size[1]))
        rows = tile_offsets(size[0], tile[0], tile[0] // 8)
        cols = tile_offsets(size[1], tile[1], tile[1] // 8)
        if len(rows) * len(cols) <= MAX_TILES or scale < 0.05:
            break
        scale *= 0.9
    reason = f"{why}; {len(rows) * len(cols)} tiles of {tile[0]}x{tile[1]} at {scale:.2f}x native"
    return Geometry(size, resize, tile, rows, cols, reason)


def choose_geometry(
    sizes: list[tuple[int, int]], *, base: int = 256, image_size: tuple[int, int] | None = None, tile: str | None = None
) -> Geometry:
    """The geometry for training images of (height, width) `sizes`; `image_size`/`tile` override the choice.

    `tile`: None or "auto" (decide), "none" (never tile) or a tile side/size ("256", "320x320").
    """
    arr = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    resize, spread = _policy(arr)
    native = (float(np.median(arr[:, 0])), float(np.median(arr[:, 1])))
    aspect = f"median {native[0]:.0f}x{native[1]:.0f}, aspect spread {spread:.2f} -> {resize}"
    forced = None if tile in (None, "auto", "none") else parse_size(tile, "--tile")
    if forced is not None:
        side = forced if isinstance(forced, int) else max(forced)
        if image_size is not None:
            rows = tile_offsets(image_size[0], min(side, image_size[0]), side // 8)
            cols = tile_offsets(image_size[1], min(side, image_size[1]), side // 8)
            return Geometry(
                image_size,
                resize,
                (min(side, image_size[0]), min(side, image_size[1])),
                rows,
                cols,
                f"{aspect}; tiles of {side} requested",
            )
        return _tiled(native, side, resize, f"{aspect}; --tile {tile}")
    if image_size is not None:
        return Geometry(image_size, resize, reason=f"{aspect}; --image-size {image_size[0]}x{image_size[1]}")
    scale = math.sqrt(base * base / (native[0] * native[1]))
    view = (base, base) if resize == "stretch" else (_round(native[0] * scale), _round(native[1] * scale))
    if tile == "none" or scale >= 1.0 / MAX_SHRINK:
        return Geometry(view, resize, reason=f"{aspect}; one {view[0]}x{view[1]} view ({scale:.2f}x native)")
    return _tiled(native, base, resize, f"{aspect}; one view would shrink parts {1 / scale:.1f}x")


def geometry_options(
    sizes: list[tuple[int, int]], *, base: int = 256, image_size: tuple[int, int] | None = None, tile: str | None = None
) -> list[Geometry]:
    """The rule's geometry first; where the rule (not an option) chose tiles, the one view too, to be measured."""
    chosen = choose_geometry(sizes, base=base, image_size=image_size, tile=tile)
    if not chosen.tiled or image_size is not None or tile not in (None, "auto"):
        return [chosen]
    return [chosen, choose_geometry(sizes, base=base, tile="none")]
