"""Shared fixtures for the live tests: a real model bundle (assets/demo.onnx, or a tiny one built here)."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from inspector.bundle.schema import BundleMetadata
from inspector.bundle.session import load_bundle
from inspector.bundle.verify import write_sidecar
from inspector.engine import Engine

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo.onnx"
TINY_SIZE = 64


def make_tiny_bundle(path: Path, *, threshold: float = 0.3, size: int = TINY_SIZE) -> Path:
    """A real anomaly bundle: anomaly_map = mean_c |x/255 - 0.5|, score = max of the map."""
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
        helper.make_node("Sub", ["unit", "half"], ["centred"]),
        helper.make_node("Abs", ["centred"], ["dev"]),
        helper.make_node("ReduceMean", ["dev", "axis_c"], ["anomaly_map"], keepdims=0),
        helper.make_node("ReduceMax", ["anomaly_map", "axes_hw"], ["score"], keepdims=0),
    ]
    graph = helper.make_graph(nodes, "tiny_anomaly", [image], [score, amap], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = BundleMetadata(
        task="anomaly",
        class_names=["good", "defect"],
        input_size=(size, size),
        threshold=threshold,
        threshold_method={"method": "fixed"},
        backbone="none",
        method="tiny-deviation",
        data_fingerprint="test",
    )
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    write_sidecar(path)
    return path


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """assets/demo.onnx when the lead has put it there (with its sidecar), else a tiny real bundle."""
    if DEMO.is_file() and DEMO.with_name(DEMO.name + ".sha256").is_file():
        return DEMO
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Always the tiny bundle (fast enough for latency tests whatever the demo model costs)."""
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture(scope="session")
def engine(bundle_path: Path) -> Engine:
    return Engine(load_bundle(bundle_path, threads=1), max_batch=4)


@pytest.fixture(scope="session")
def tiny_engine(tiny_bundle_path: Path) -> Engine:
    return Engine(load_bundle(tiny_bundle_path, threads=1), max_batch=4)


@pytest.fixture()
def python() -> str:
    return sys.executable
