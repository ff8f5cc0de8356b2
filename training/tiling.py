"""Tiling inside the model: cut the input into overlapping tiles, stitch per-patch distances back.

Each grid cell of the stitched map comes from the tile whose centre is nearest (a partition, so
no tile's border patches, which see padding, decide a cell another tile sees from its middle).
The same cuts and crops are written as ONNX Slice/Concat nodes by `export.onnx_tiling`.
"""

from __future__ import annotations

import torch
from torch import nn

PATCH_STRIDE = 8
"""Stride of the finest feature stage: one distance per 8x8 pixels."""


def crops(offsets: tuple[int, ...], tile: int, length: int) -> list[tuple[int, int]]:
    """Per tile, the (start, end) of the grid cells it owns, in its own grid coordinates."""
    starts = [o // PATCH_STRIDE for o in offsets]
    cells, total = tile // PATCH_STRIDE, length // PATCH_STRIDE
    bounds = [0] + [(starts[i + 1] + starts[i] + cells) // 2 for i in range(len(starts) - 1)] + [total]
    return [(bounds[i] - starts[i], bounds[i + 1] - starts[i]) for i in range(len(starts))]


class Tiler(nn.Module):
    """uint8 [N, H, W, 3] -> tiles [T*N, th, tw, 3] (tile-major), and distances [T*N, h, w] -> [N, H/8, W/8]."""

    def __init__(
        self, input_size: tuple[int, int], tile: tuple[int, int], rows: tuple[int, ...], cols: tuple[int, ...]
    ):
        super().__init__()
        self.input_size, self.tile = tuple(input_size), tuple(tile)
        self.rows, self.cols = tuple(rows), tuple(cols)
        self.row_crops = crops(self.rows, tile[0], input_size[0])
        self.col_crops = crops(self.cols, tile[1], input_size[1])

    @property
    def grid(self) -> tuple[int, int]:
        return self.input_size[0] // PATCH_STRIDE, self.input_size[1] // PATCH_STRIDE

    @property
    def count(self) -> int:
        """Tiles per image."""
        return len(self.rows) * len(self.cols)

    def split(self, image: torch.Tensor) -> torch.Tensor:
        th, tw = self.tile
        return torch.cat([image[:, r : r + th, c : c + tw] for r in self.rows for c in self.cols])

    def stitch(self, distances: torch.Tensor) -> torch.Tensor:
        per_tile = distances.reshape(self.count, -1, *distances.shape[1:])
        bands = []
        for i, (r0, r1) in enumerate(self.row_crops):
            parts = [per_tile[i * len(self.cols) + j][:, r0:r1, c0:c1] for j, (c0, c1) in enumerate(self.col_crops)]
            bands.append(torch.cat(parts, dim=2))
        return torch.cat(bands, dim=1)
