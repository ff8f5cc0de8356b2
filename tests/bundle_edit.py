"""Test helper: a copy of a real bundle with some `inspector.*` metadata values replaced (sidecar rewritten)."""

from __future__ import annotations

from pathlib import Path

import onnx

from inspector.bundle.schema import PREFIX
from inspector.bundle.verify import write_sidecar


def with_props(source: Path, target: Path, **values: str) -> Path:
    """Copy `source` to `target` with metadata values replaced by the raw strings given; a valid checksum."""
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({PREFIX + key: value for key, value in values.items()})
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=k, value=v) for k, v in props.items())
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(target), save_as_external_data=False)
    write_sidecar(target)
    return target


def nan_bundle(path: Path, size: int = 32) -> Path:
    """A real bundle whose score is NaN for a dark image: score = sqrt(max(map) - 0.5), map = mean_c(x / 255)."""
    from onnx import TensorProto, helper

    from inspector.bundle.schema import BundleMetadata

    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", size, size, 3])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    amap = helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", size, size])
    inits = [
        helper.make_tensor("k255", TensorProto.FLOAT, [], [255.0]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("axis_c", TensorProto.INT64, [1], [3]),
        helper.make_tensor("axes_hw", TensorProto.INT64, [2], [1, 2]),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "k255"], ["unit"]),
        helper.make_node("ReduceMean", ["unit", "axis_c"], ["anomaly_map"], keepdims=0),
        helper.make_node("ReduceMax", ["anomaly_map", "axes_hw"], ["peak"], keepdims=0),
        helper.make_node("Sub", ["peak", "half"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["score"]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "nan_on_dark", [image], [score, amap], initializer=inits),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    model.ir_version = 9
    meta = BundleMetadata(
        task="anomaly",
        class_names=["good", "defect"],
        input_size=(size, size),
        threshold=0.3,
        threshold_method={"method": "fixed"},
        backbone="none",
        method="nan-on-dark",
        data_fingerprint="test",
    )
    helper.set_model_props(model, meta.to_props())
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    write_sidecar(path)
    return path
