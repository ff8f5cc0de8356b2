"""Tiling written into the bundle's graph, mirroring training.tiling.Tiler node for node.

The graph takes the whole input `image` [N, H, W, 3]; Slice nodes cut the tiles (tile-major, as
`Tiler.split`), the traced feature graph runs on all of them as one batch, and after the head the
tiles' distances are cropped and concatenated back to the whole input's grid.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from export.onnx_head import GraphBuilder
from training.tiling import Tiler

TILES = "tiles"


def prepend_tiling(model: onnx.ModelProto, tiler: Tiler, input_name: str = "image") -> onnx.ModelProto:
    """Make the traced tile graph take the whole input and cut the tiles itself."""
    graph = model.graph
    for node in graph.node:
        node.input[:] = [TILES if name == input_name else name for name in node.input]
    g = GraphBuilder(graph, "tiling")
    start = len(graph.node)
    th, tw = tiler.tile
    axes = g.const(np.array([1, 2], np.int64), "axes")
    pieces = [
        g.op(
            "Slice",
            [
                input_name,
                g.const(np.array([r, c], np.int64), "start"),
                g.const(np.array([r + th, c + tw], np.int64), "end"),
                axes,
            ],
            "tile",
        )
        for r in tiler.rows
        for c in tiler.cols
    ]
    graph.node.append(helper.make_node("Concat", pieces, [TILES], name="tiling/concat", axis=0))
    new_nodes = list(graph.node[start:])
    del graph.node[start:]
    for i, node in enumerate(new_nodes):
        graph.node.insert(i, node)
    del graph.input[:]
    height, width = tiler.input_size
    graph.input.append(helper.make_tensor_value_info(input_name, TensorProto.UINT8, ["N", height, width, 3]))
    return model


def stitch(g: GraphBuilder, distances: str, tiler: Tiler, view_grid: tuple[int, int]) -> str:
    """[T*N, h*w] tile-major distances -> [1, N, H/8, W/8], each cell from its nearest tile centre."""
    tiles = tiler.count
    x = g.op("Reshape", [distances, g.const(np.array([tiles, -1, view_grid[0], view_grid[1]], np.int64))])
    axes = g.const(np.array([0, 2, 3], np.int64), "axes")
    bands = []
    for i, (r0, r1) in enumerate(tiler.row_crops):
        parts = []
        for j, (c0, c1) in enumerate(tiler.col_crops):
            t = i * len(tiler.cols) + j
            parts.append(
                g.op(
                    "Slice",
                    [
                        x,
                        g.const(np.array([t, r0, c0], np.int64), "start"),
                        g.const(np.array([t + 1, r1, c1], np.int64), "end"),
                        axes,
                    ],
                    "crop",
                )
            )
        bands.append(parts[0] if len(parts) == 1 else g.op("Concat", parts, "band", axis=3))
    return bands[0] if len(bands) == 1 else g.op("Concat", bands, "stitched", axis=2)
