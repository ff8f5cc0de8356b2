"""Lighter bundles from a checked fp32 bundle: FP16 (for GPUs) and INT8 static QDQ (for CPUs).

FP16 reduces the feature extractor only; INT8 the features from stride 4 on and the PaDiM head's
Mahalanobis product (smoothing and max stay fp32). The input stays uint8 and the outputs float32, so the
bundle schema is unchanged. Which nodes run in int8 and where the time goes:
benchmarks/profile_ops.py. The reduced bundle is
measured against fp32 on the run's test split (same onnxruntime CPU runtime), its threshold is the
fp32 (CV+) threshold times the median ratio of the two bundles' scores on the validation images nearest it,
and the export
fails when image AUROC drops by more than `MAX_AUROC_DROP` unless told to keep it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from inspector.bundle.schema import PRECISIONS
from inspector.bundle.verify import read_metadata
from inspector.bundle.write import write_metadata
from inspector.data.dataset import Sample, load_dataset
from inspector.errors import InspectorError
from inspector.geometry import prepare
from inspector.imageio import is_image_file, read_image
from inspector.metrics import anomaly_metrics
from training.run_summary import RunSummary

MAX_AUROC_DROP = 0.005
CALIB_IMAGES = 64
INT8_MIN_STRIDE = 4
INT8_OPS = ("Conv", "Clip", "Add")  # fused by onnxruntime into QLinearConv (ReLU6 folded) and QLinearAdd


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the anomaly head (everything the traced feature extractor did not produce)."""
    return [
        n.name for n in model.graph.node if not n.name.startswith("/") and n.op_type not in {"Constant", "Identity"}
    ]


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [g for a in node.attribute for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs))]


def _inputs(nodes) -> set[str]:
    """Every tensor name the nodes read, inside subgraphs (Scan, Loop) too."""
    return {name for n in nodes for name in n.input} | {
        x for n in nodes for g in _subgraphs(n) for x in _inputs(g.node)
    }


def _rename_inputs(nodes, rename: dict[str, str]) -> None:
    for node in nodes:
        node.input[:] = [rename.get(name, name) for name in node.input]
        for graph in _subgraphs(node):
            _rename_inputs(graph.node, rename)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Feature extractor in float16, head in float32 (its distances overflow fp16); uint8 in, float32 out."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    nodes = list(model.graph.node)
    cut = next(i for i, n in enumerate(nodes) if "features" in n.output) + 1
    inits = {i.name: i for i in model.graph.initializer}
    used = _inputs(nodes[:cut]) & inits.keys()
    features_info = next(v for v in onnx.shape_inference.infer_shapes(model).graph.value_info if v.name == "features")
    part = helper.make_model(
        helper.make_graph(
            nodes[:cut],
            "features",
            list(model.graph.input),
            [features_info],
            initializer=[inits[n] for n in sorted(used)],
        ),
        opset_imports=model.opset_import,
        ir_version=model.ir_version,
    )
    half = convert_float_to_float16(part, keep_io_types=True)
    head = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes[cut:]]
    needed = _inputs(head) & inits.keys()
    rename = {name: f"fp32/{name}" for name in needed & used}  # shared with the (now fp16) features
    _rename_inputs(head, rename)
    head_inits = []
    for name in sorted(needed):
        tensor = onnx.TensorProto.FromString(inits[name].SerializeToString())
        tensor.name = rename.get(name, name)
        head_inits.append(tensor)
    graph = helper.make_graph(
        list(half.graph.node) + head,
        model.graph.name,
        list(model.graph.input),
        list(model.graph.output),
        initializer=list(half.graph.initializer) + head_inits,
    )
    out = helper.make_model(
        graph,
        opset_imports=model.opset_import,
        ir_version=model.ir_version,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
    )
    out.metadata_props.extend(model.metadata_props)
    return out


class _Calibration:
    """onnxruntime CalibrationDataReader over uint8 images at the model size."""

    def __init__(self, images: list[np.ndarray], batch: int = 8) -> None:
        self._batches: Iterator = iter([np.stack(images[i : i + batch]) for i in range(0, len(images), batch)])

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {"image": batch}


def high_resolution_nodes(model: onnx.ModelProto, min_stride: int = INT8_MIN_STRIDE) -> list[str]:
    """Feature nodes whose output is finer than 1/min_stride of the input: the layers where int8 noise
    hurts fine-texture anomaly features most (magnetic tile, 2026-12-02: image AUROC 0.942 with the
    stride-2 layers in int8, 0.987 without them)."""
    height, width = (d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:3])
    nodes = [n for n in model.graph.node if n.name.startswith("/") and n.op_type in INT8_OPS]
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    probe.graph.output.extend(onnx.ValueInfoProto(name=n.output[0]) for n in nodes)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    outputs = session.run([n.output[0] for n in nodes], {"image": np.zeros((1, height, width, 3), np.uint8)})
    return [
        n.name for n, out in zip(nodes, outputs, strict=True) if out.ndim == 4 and height / out.shape[2] < min_stride
    ]


def quantize_head_matmul(model: onnx.ModelProto) -> bool:
    """PaDiM's per-position Mahalanobis product x @ inv_cov[G, C, C] in int8: uint8 weights (zero point 128,
    a scale per column, so no 8-bit u8s8 pair can saturate AVX2's vpmaddubsw) and x quantized per call
    (DynamicQuantizeLinear; onnxruntime fuses it into DynamicQuantizeMatMul). The channels are first
    equalised (x * r, inv_cov / r r^T, r = sqrt of the mean diagonal) so that one uint8 range fits them all.
    At batch 1 the fp32 product reads all 24 MB of inverse covariances per image; int8 reads a quarter.
    Returns False (model unchanged) where there is no such product (PatchCore)."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    node = next(
        (
            n
            for n in graph.node
            if n.op_type == "MatMul"
            and not n.name.startswith("/")
            and len(n.input) == 2
            and n.input[1] in inits
            and len(inits[n.input[1]].dims) == 3
        ),
        None,
    )
    if node is None:
        return False
    weights = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
    x, p = node.input[0], node.name
    users = [n for n in graph.node if x in n.input and n.name != p]
    new: list[onnx.NodeProto] = []
    if len(users) == 1 and users[0].op_type == "Mul" and node.output[0] in users[0].input:  # d2 = sum((x W) * x)
        r = np.sqrt(np.clip(np.diagonal(weights, axis1=1, axis2=2).mean(axis=0), 1e-12, None))
        weights = weights / np.outer(r, r)
        graph.initializer.append(numpy_helper.from_array(r.astype(np.float32), f"{p}/channel_scale"))
        new.append(helper.make_node("Mul", [x, f"{p}/channel_scale"], [f"{p}/x_eq"], name=f"{p}/equalise"))
        users[0].input[:] = [f"{p}/x_eq" if name == x else name for name in users[0].input]
        x = f"{p}/x_eq"
    scale = np.maximum(np.abs(weights).max(axis=1, keepdims=True), 1e-30) / 127  # [G, 1, C]
    graph.initializer.extend(
        [
            numpy_helper.from_array((np.round(weights / scale) + 128).astype(np.uint8), f"{p}/w_u8"),
            numpy_helper.from_array(np.array(128, np.uint8), f"{p}/w_zero"),
            numpy_helper.from_array(scale.astype(np.float32), f"{p}/w_scale"),
        ]
    )
    new += [
        helper.make_node(
            "DynamicQuantizeLinear", [x], [f"{p}/x_u8", f"{p}/x_scale", f"{p}/x_zero"], name=f"{p}/quantize_x"
        ),
        helper.make_node(
            "MatMulInteger",
            [f"{p}/x_u8", f"{p}/w_u8", f"{p}/x_zero", f"{p}/w_zero"],
            [f"{p}/i32"],
            name=f"{p}/matmul_int8",
        ),
        helper.make_node("Cast", [f"{p}/i32"], [f"{p}/f32"], name=f"{p}/cast", to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [f"{p}/x_scale", f"{p}/w_scale"], [f"{p}/scale"], name=f"{p}/scales"),
        helper.make_node("Mul", [f"{p}/f32", f"{p}/scale"], [node.output[0]], name=f"{p}/dequantize"),
    ]
    at = list(graph.node).index(node)
    graph.node.remove(node)
    for offset, n in enumerate(new):
        graph.node.insert(at + offset, n)
    graph.initializer.remove(inits[node.input[1]])
    return True


def to_int8(model: onnx.ModelProto, calib: list[np.ndarray]) -> onnx.ModelProto:
    """Static QDQ INT8 of the features at stride >= INT8_MIN_STRIDE (convolutions with their ReLU6 and
    residual adds, so onnxruntime fuses them into QLinearConv / QLinearAdd without a fp32 round trip
    between): per-channel 7-bit weights (`reduce_range`: 8-bit u8s8 saturates AVX2's vpmaddubsw on CPUs
    without VNNI, which cost 0.004 AUROC), uint8 activations with percentile calibration; the stride-2
    layers stay fp32, and the head's Mahalanobis product runs in int8 (`quantize_head_matmul`)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="inspector-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(model, str(src))
        quantize_static(
            str(src),
            str(dst),
            _Calibration(calib),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=list(INT8_OPS),
            nodes_to_exclude=head_nodes(model) + high_resolution_nodes(model),
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.999},
        )
        quantized = onnx.load(str(dst))
    quantize_head_matmul(quantized)
    return quantized


def calibration_images(
    summary: RunSummary, calib_dir: Path | None, size: tuple[int, int], limit: int = CALIB_IMAGES
) -> list[np.ndarray]:
    """Up to `limit` images: from --calib DIR, else the run's training good images (evenly spaced)."""
    if calib_dir is not None:
        paths = sorted(p for p in Path(calib_dir).rglob("*") if p.is_file() and is_image_file(p))
        if not paths:
            raise InspectorError(f"--calib {calib_dir}: no images found", "pass a folder of good images")
    else:
        dataset = load_dataset(Path(summary.data), seed=summary.seed)
        paths = [s.path for s in dataset.select(split="train", good=True)]
    picked = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, min(limit, len(paths)))]
    return [prepare(read_image(p), size, summary.resize) for p in picked]


@dataclass
class EvalSet:
    test: list[Sample]
    test_images: list[np.ndarray]
    test_masks: list
    val_images: list[np.ndarray]
    extra: dict = field(default_factory=dict)


def evaluation_set(summary: RunSummary, data: Path | None) -> EvalSet:
    from training.images import load_samples

    dataset = load_dataset(Path(data or summary.data), seed=summary.seed)
    size = summary.image_size
    test = dataset.select(split="test")
    if not test or not any(not s.is_good for s in test):
        raise InspectorError(
            "the run's dataset has no test split with defects to measure the reduced bundle on",
            "pass --data with a dataset that has test defects",
        )
    images, masks = load_samples(test, size, with_masks=True, policy=summary.resize)
    val, _ = load_samples(dataset.select(split="val"), size, policy=summary.resize)
    return EvalSet(test, images, masks, val)


def _run(model_bytes: bytes, images: list[np.ndarray], batch: int = 8) -> tuple[np.ndarray, list[np.ndarray]]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
    scores, maps = [], []
    for i in range(0, len(images), batch):
        s, m = session.run(["score", "anomaly_map"], {"image": np.stack(images[i : i + batch])})
        scores.append(s)
        maps.extend(m.astype(np.float32))
    return np.concatenate(scores), maps


def evaluate(model_bytes: bytes, evalset: EvalSet, threshold: float) -> dict:
    """Test scores and metrics at `threshold`."""
    scores, maps = _run(model_bytes, evalset.test_images)
    labels = [s.label for s in evalset.test]
    metrics = anomaly_metrics(labels, scores, threshold, evalset.test_masks, maps)
    return {"threshold": threshold, "metrics": metrics, "scores": scores}


NEAR_THRESHOLD = 10
"""Validation images (at least; else a tenth of them) nearest the threshold that measure the score ratio."""


def carried_threshold(summary: RunSummary, fp32: bytes, reduced: bytes, val: list[np.ndarray]) -> dict:
    """The run's CV+ threshold carried to the reduced bundle by the two bundles' score ratio near it.

    The model fitted on the validation good images too, so their own conformal quantile would sit too
    low. The ratio of the two precisions' scores on the same images needs no held-out image; it is
    measured on the validation images (good or defective) whose fp32 scores lie nearest the threshold,
    as the precision's error is not the same at every score.
    """
    deployed = dict(summary.thresholds.get("deployed", {"threshold": summary.threshold}))
    if not val:
        return dict(deployed, note="kept from fp32 (no validation images)")
    threshold = float(summary.threshold)
    base, new = np.maximum(_run(fp32, val)[0], 1e-12), _run(reduced, val)[0]
    near = np.argsort(np.abs(np.log(base / max(threshold, 1e-12))))[: max(NEAR_THRESHOLD, len(val) // 10)]
    ratio = float(np.median(new[near] / base[near]))
    deployed.update(
        threshold=threshold * ratio,
        score_ratio=ratio,
        note=f"the fp32 threshold x the median reduced/fp32 score ratio on the {len(near)} val images nearest it",
    )
    if "good_scores" in deployed:
        deployed["good_scores"] = [float(f"{v * ratio:.6g}") for v in deployed["good_scores"]]
    return deployed


def reduce_precision(
    fp32: onnx.ModelProto,
    summary: RunSummary,
    precision: str,
    *,
    calib: Path | None = None,
    data: Path | None = None,
    keep: bool = False,
) -> tuple[onnx.ModelProto, str]:
    """The reduced bundle (metadata re-stamped) and a report of its metric change against fp32."""
    if precision not in ("fp16", "int8"):
        raise InspectorError(f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    size = summary.image_size
    reduced = to_fp16(fp32) if precision == "fp16" else to_int8(fp32, calibration_images(summary, calib, size))
    evalset = evaluation_set(summary, data)
    fp32_bytes, reduced_bytes = fp32.SerializeToString(), reduced.SerializeToString()
    deployed = carried_threshold(summary, fp32_bytes, reduced_bytes, evalset.val_images)
    base = evaluate(fp32_bytes, evalset, float(summary.threshold))
    new = evaluate(reduced_bytes, evalset, deployed["threshold"])
    keys = ("image_auroc", "average_precision", "f1", "detection_rate", "false_reject_rate", "pixel_auroc", "aupro")
    lines = [
        f"{precision} against fp32 on {len(evalset.test)} test images (onnxruntime CPU; the {precision} threshold "
        f"is the fp32 one x {deployed.get('score_ratio', 1.0):.4f}, the median score ratio on the val images "
        f"nearest it):",
        f"  {'metric':<20} {'fp32':>9} {precision:>9} {'change':>9}",
    ]
    for k in keys:
        a, b = base["metrics"].get(k), new["metrics"].get(k)
        if a is not None and b is not None:
            lines.append(f"  {k:<20} {a:>9.4f} {b:>9.4f} {b - a:>+9.4f}")
    lines.append(f"  {'threshold':<20} {base['threshold']:>9.4g} {new['threshold']:>9.4g}")
    report = "\n".join(lines)
    drop = base["metrics"]["image_auroc"] - new["metrics"]["image_auroc"]
    if drop > MAX_AUROC_DROP and not keep:
        raise InspectorError(
            f"the {precision} bundle loses {drop:.4f} image AUROC (limit {MAX_AUROC_DROP}); "
            f"nothing was written\n{report}",
            "keep fp32, calibrate on more representative images (--calib DIR), or pass --keep",
        )
    methods = dict(summary.thresholds, deployed=deployed)
    metrics = dict(new["metrics"], precision=precision, fp32_image_auroc=base["metrics"]["image_auroc"])
    meta = dataclasses.replace(
        read_metadata(fp32, "the fp32 bundle"),
        threshold=float(deployed["threshold"]),
        threshold_method=methods,
        metrics=metrics,
        precision=precision,
    )
    write_metadata(reduced, meta)
    reduced.graph.name = f"{fp32.graph.name}-{precision}"
    onnx.checker.check_model(reduced, full_check=False)
    return reduced, report
