"""The distance head and post-processing written directly as ONNX nodes.

Appended to the traced feature graph ([N, C, h, w] "features"), it produces `score` [N] and
`anomaly_map` [N, H, W]. PatchCore's nearest-neighbour search runs in a Scan over the batch with
the memory bank split into chunks (the minimum of ||b||^2 - 2 q.b as MatMul + Add, then + ||q||^2
once), so memory stays bounded for any batch size; PaDiM's Mahalanobis distance is a batched MatMul
per block of positions.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from training.run_summary import RunSummary


class GraphBuilder:
    """Small helper to add uniquely named nodes and constants to a graph."""

    def __init__(self, graph: onnx.GraphProto, prefix: str = "head") -> None:
        self.graph = graph
        self.prefix = prefix
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}/{hint}_{self.count}"

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int = 1, **attrs
    ) -> str | list[str]:
        names = [self.name(hint or op_type) for _ in range(outputs)]
        self.graph.node.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names


def _patchcore_body(bank: np.ndarray, chunk: int, outer: GraphBuilder) -> onnx.GraphProto:
    """Scan body: q [P, C] -> nearest distance [P]. Bank chunks live in the outer graph."""
    body = helper.make_graph(
        [],
        "nn_body",
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, [None, bank.shape[1]])],
        [helper.make_tensor_value_info("dist", TensorProto.FLOAT, [None])],
    )
    b = GraphBuilder(body, "nn")
    axes1 = outer.const(np.array([1], np.int64), "axes1")
    q2 = b.op("ReduceSum", [b.op("Mul", ["q", "q"]), axes1], keepdims=1)  # [P, 1]
    minima = []
    for start in range(0, bank.shape[0], chunk):
        part = bank[start : start + chunk].astype(np.float32)
        neg2_bt = outer.const((-2.0 * part.T).astype(np.float32), "bank_neg2T")  # [C, k]
        b2 = outer.const((part * part).sum(1, dtype=np.float32)[None, :], "bank_sq")  # [1, k]
        partial = b.op("Add", [b.op("MatMul", ["q", neg2_bt]), b2])  # ||b||^2 - 2 q.b: [P, k], one Gemm
        minima.append(b.op("ReduceMin", [partial, axes1], keepdims=1))
    nearest = b.op("Add", [minima[0] if len(minima) == 1 else b.op("Min", minima), q2])  # + ||q||^2 once: [P, 1]
    nearest = b.op("Squeeze", [nearest, axes1])
    zero = outer.const(np.array(0.0, np.float32), "zero")
    body.node.append(helper.make_node("Sqrt", [b.op("Max", [nearest, zero])], ["dist"], name="nn/sqrt"))
    return body


def _patchcore(g: GraphBuilder, patches: str, bank: np.ndarray, chunk: int) -> str:
    """[N, P, C] -> [N, P] nearest-neighbour distances, one image at a time (Scan)."""
    body = _patchcore_body(bank, chunk, g)
    return g.op("Scan", [patches], "nn_scan", body=body, num_scan_inputs=1)


def _padim(
    g: GraphBuilder, patches: str, mean: np.ndarray, inv_cov: np.ndarray, grid: tuple[int, int], block: int
) -> str:
    """[N, P, C] -> [N, P] Mahalanobis distances with inverse covariances shared per block."""
    h, w = grid
    c = mean.shape[1]
    diff = g.op("Sub", [patches, g.const(mean.astype(np.float32), "padim_mean")])
    x = g.op("Reshape", [diff, g.const(np.array([-1, h // block, block, w // block, block, c], np.int64))])
    x = g.op("Transpose", [x], perm=[1, 3, 0, 2, 4, 5])
    grouped = g.op("Reshape", [x, g.const(np.array([(h // block) * (w // block), -1, c], np.int64))])
    weighted = g.op("MatMul", [grouped, g.const(inv_cov.astype(np.float32), "padim_inv_cov")])
    d2 = g.op("ReduceSum", [g.op("Mul", [weighted, grouped]), g.const(np.array([2], np.int64))], keepdims=0)
    x = g.op("Reshape", [d2, g.const(np.array([h // block, w // block, -1, block, block], np.int64))])
    x = g.op("Transpose", [x], perm=[2, 0, 3, 1, 4])
    d2 = g.op("Reshape", [x, g.const(np.array([-1, h * w], np.int64))])
    return g.op("Sqrt", [g.op("Max", [d2, g.const(np.array(0.0, np.float32))])])


def _post(g: GraphBuilder, distances: str, grid: tuple[int, int], rows: np.ndarray, cols_t: np.ndarray) -> None:
    """[N, P] -> anomaly_map [N, H, W] = rows @ D @ cols_t (upsampling and Gaussian in one), score = its max."""
    h, w = grid
    x = g.op("Reshape", [distances, g.const(np.array([-1, h, w], np.int64))])
    x = g.op("MatMul", [g.const(rows.astype(np.float32), "upsample_rows"), x])
    g.graph.node.append(
        helper.make_node(
            "MatMul", [x, g.const(cols_t.astype(np.float32), "upsample_cols")], ["anomaly_map"], name="map"
        )
    )
    g.graph.node.append(
        helper.make_node(
            "ReduceMax", ["anomaly_map", g.const(np.array([1, 2], np.int64))], ["score"], name="score", keepdims=0
        )
    )


def append_anomaly_head(
    model: onnx.ModelProto,
    features: str,
    state: dict[str, np.ndarray],
    summary: RunSummary,
    chunk: int = 1024,
    tiler=None,
) -> onnx.ModelProto:
    """Replace the graph's outputs by `score` [N] and `anomaly_map` [N, H, W] computed from `features`
    (of each tile, when `tiler` says how to stitch them back)."""
    g = GraphBuilder(model.graph)
    h, w = summary.view_grid or (0, 0)
    size = summary.image_size
    x = g.op("Transpose", [features], perm=[0, 2, 3, 1])
    patches = g.op("Reshape", [x, g.const(np.array([0, h * w, -1], np.int64))])  # [N, P, C]
    if summary.method == "padim":
        distances = _padim(g, patches, state["head.mean"], state["head.inv_cov"], (h, w), summary.block)
    else:
        distances = _patchcore(g, patches, state["head.bank"], chunk)
    if tiler is not None:
        from export.onnx_tiling import stitch

        distances = stitch(g, distances, tiler, (h, w))
    _post(g, distances, tuple(summary.grid or ()), state["post.rows"], state["post.cols_t"])
    del model.graph.output[:]
    model.graph.output.extend(
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", size[0], size[1]]),
        ]
    )
    return model
