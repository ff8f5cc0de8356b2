"""INT8 recipe: which nodes run in int8 in onnxruntime's optimised graph, and the int8 Mahalanobis product."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

quantize = pytest.importorskip("export.quantize")


def _optimised_ops(model: onnx.ModelProto, tmp_path: Path) -> collections.Counter:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node)


def _mahalanobis_graph(inv_cov: np.ndarray) -> onnx.ModelProto:
    """d2[G, M] = sum((x @ inv_cov) * x) as the PaDiM head writes it (head/... names, a 3-D constant)."""
    groups, _, channels = inv_cov.shape
    nodes = [
        helper.make_node("MatMul", ["x", "inv_cov"], ["weighted"], name="head/MatMul_1"),
        helper.make_node("Mul", ["weighted", "x"], ["prod"], name="head/Mul_2"),
        helper.make_node("ReduceSum", ["prod", "axes"], ["d2"], name="head/ReduceSum_3", keepdims=0),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [groups, "M", channels])
    graph = helper.make_graph(
        nodes,
        "head",
        [x],
        [helper.make_tensor_value_info("d2", TensorProto.FLOAT, [groups, "M"])],
        initializer=[
            numpy_helper.from_array(inv_cov, "inv_cov"),
            numpy_helper.from_array(np.array([2], np.int64), "axes"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["d2"], {"x": x})[0]


def test_head_product_in_int8_keeps_the_distances_and_fuses(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups, channels = 6, 40
    scales = np.geomspace(0.1, 10, channels)  # channels of very different spread: what equalising is for
    inv_cov = np.empty((groups, channels, channels), np.float32)
    for g in range(groups):
        a = rng.standard_normal((channels, 3 * channels)) * scales[:, None]
        inv_cov[g] = np.linalg.inv(a @ a.T / (3 * channels) + 0.01 * np.eye(channels))
    x = (rng.standard_normal((groups, 8, channels)) * scales).astype(np.float32)
    x[0, 0] *= 4  # an anomaly: far outside the others
    fp32 = _mahalanobis_graph(inv_cov)
    int8 = onnx.ModelProto.FromString(fp32.SerializeToString())
    assert quantize.quantize_head_matmul(int8)
    onnx.checker.check_model(int8)
    assert "inv_cov" not in {i.name for i in int8.graph.initializer}  # the 4x larger fp32 copy is gone
    expected, got = _run(fp32, x), _run(int8, x)
    assert np.max(np.abs(got - expected) / expected) < 0.03
    assert np.argmax(got) == np.argmax(expected) == 0
    ops = _optimised_ops(int8, tmp_path)
    assert ops["MatMul"] == 0 and ops["DynamicQuantizeMatMul"] + ops["MatMulInteger"] == 1


def test_head_without_a_per_position_product_is_left_alone() -> None:
    model = _mahalanobis_graph(np.eye(4, dtype=np.float32)[None])
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.eye(4, dtype=np.float32), "inv_cov"))  # 2-D
    before = model.SerializeToString()
    assert not quantize.quantize_head_matmul(model)
    assert model.SerializeToString() == before


def test_int8_padim_runs_convs_activations_adds_and_head_in_int8(padim_bundle, tmp_path: Path) -> None:
    """The optimised int8 graph: fused QLinearConv/QLinearAdd from stride 4 on, no fp32 Clip left between
    them, the stride-2 layers in fp32, and the head product in int8; outputs stay close to fp32."""
    _, bundle = padim_bundle
    fp32 = onnx.load(str(bundle))
    fine = set(quantize.high_resolution_nodes(fp32))
    convs = {n.name for n in fp32.graph.node if n.op_type == "Conv" and n.name.startswith("/")}
    assert fine & convs and convs - fine  # some layers each way
    size = tuple(d.dim_value for d in fp32.graph.input[0].type.tensor_type.shape.dim[1:3])
    images = list(np.random.default_rng(0).integers(0, 256, (8, *size, 3), np.uint8))
    int8 = quantize.to_int8(fp32, images)
    ops = _optimised_ops(int8, tmp_path)
    assert ops["QLinearConv"] == len(convs - fine)
    assert ops["Conv"] == len(fine & convs)
    assert ops["Clip"] == 0  # every ReLU6 folded into its conv, int8 or fp32
    assert ops["QuantizeLinear"] == 1  # one fp32 -> int8 boundary: into stride 4; no round trips inside
    assert ops["DynamicQuantizeMatMul"] + ops["MatMulInteger"] == 1
    batch = np.stack(images)
    ref, got = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            ["score"], {"image": batch}
        )[0]
        for m in (fp32, int8)
    )
    assert np.corrcoef(ref, got)[0, 1] > 0.9


def test_a_reduced_bundle_carries_the_cv_threshold_by_the_score_ratio_near_it(padim_bundle) -> None:
    """The model fitted on the val good images too: their own quantile would sit too low, so the reduced
    bundle's threshold is the fp32 CV+ threshold times the median ratio of the two bundles' scores on the
    validation images nearest the threshold."""
    from inspector.bundle.verify import read_metadata
    from training.run import load_run

    run, bundle = padim_bundle
    summary, _ = load_run(run)
    fp32 = onnx.load(str(bundle))
    reduced, report = quantize.reduce_precision(fp32, summary, "int8", keep=True)
    meta = read_metadata(reduced)
    deployed = meta.threshold_method["deployed"]
    val = quantize.evaluation_set(summary, None).val_images
    base, new = (quantize._run(m.SerializeToString(), val)[0] for m in (fp32, reduced))
    near = np.argsort(np.abs(np.log(base / summary.threshold)))[: max(quantize.NEAR_THRESHOLD, len(val) // 10)]
    assert deployed["score_ratio"] == pytest.approx(np.median(new[near] / base[near]), rel=1e-5)
    assert meta.threshold == pytest.approx(summary.threshold * deployed["score_ratio"], rel=1e-5)
    assert deployed["n_calibration"] == summary.thresholds["deployed"]["n_calibration"]  # the CV+ calibration kept
    assert "median score ratio" in report and meta.precision == "int8"
