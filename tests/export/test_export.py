"""Export self-check: parity between torch and onnxruntime, single-file bundle, chunked NN search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

from export.parity import check_parity  # noqa: E402
from inspector.bundle.schema import PREFIX  # noqa: E402
from inspector.bundle.verify import sha256_bytes  # noqa: E402
from inspector.errors import InspectorError  # noqa: E402
from training.run import load_run  # noqa: E402


def _images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    from inspector.synthetic import make_part

    rng = np.random.default_rng(seed)
    return [make_part(rng, size=(size, size), defect=None if i % 2 else "crack").image for i in range(n)]


@pytest.mark.parametrize("fixture", ["patchcore_bundle", "padim_bundle"])
def test_bundle_is_one_self_describing_file(fixture: str, request) -> None:
    run, bundle = request.getfixturevalue(fixture)
    model = onnx.load(str(bundle), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    props = {p.key[len(PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    for key in (
        "schema_version",
        "task",
        "class_names",
        "input_size",
        "color_order",
        "threshold",
        "threshold_method",
        "backbone",
        "data_fingerprint",
        "metrics",
        "created",
        "package_version",
    ):
        assert key in props, key
    summary = json.loads((run / "run.json").read_text())
    assert json.loads(props["threshold"]) == pytest.approx(summary["threshold"])
    assert props["data_fingerprint"] == summary["data_fingerprint"]
    assert bundle.with_name(bundle.name + ".sha256").read_text().split()[0] == sha256_bytes(bundle.read_bytes())
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("fixture", ["patchcore_bundle", "padim_bundle"])
def test_parity_and_any_batch_size(fixture: str, request) -> None:
    run, bundle = request.getfixturevalue(fixture)
    summary, model = load_run(run)
    images = _images(7, summary.image_size[0])
    report = check_parity(model, bundle.read_bytes(), images, summary.threshold, batch=3)
    assert report.ok and report.flips == 0 and report.max_score_diff <= report.tolerance
    session = ort.InferenceSession(str(bundle), providers=["CPUExecutionProvider"])
    together = session.run(["score"], {"image": np.stack(images)})[0]
    one_by_one = np.concatenate([session.run(["score"], {"image": image[None]})[0] for image in images])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-5)


def test_nearest_neighbour_search_is_chunked_and_exact(patchcore_bundle) -> None:
    from export.onnx_head import append_anomaly_head
    from training.onnx_features import trace_features

    run, _ = patchcore_bundle
    summary, model = load_run(run)
    bank = model.head.bank.shape[0]
    graph = trace_features(model.features, summary.image_size)
    state = {k: v.numpy() for k, v in model.state_dict().items() if k.startswith(("head.", "post."))}
    graph = append_anomaly_head(graph, "features", state, summary, chunk=max(1, bank // 5))
    scan = next(n for n in graph.graph.node if n.op_type == "Scan")
    body = next(a.g for a in scan.attribute if a.name == "body")
    assert sum(n.op_type == "MatMul" for n in body.node) >= 5  # ||q||^2 - 2 q.b + ||b||^2 per chunk
    report = check_parity(model, graph.SerializeToString(), _images(4, summary.image_size[0]), summary.threshold)
    assert report.ok, report.describe()


def test_export_fails_with_numbers_when_onnx_disagrees(patchcore_bundle, tmp_path: Path, monkeypatch) -> None:
    import export.bundle_writer as writer
    from export.cli import export_run

    run, _ = patchcore_bundle
    real_build = writer.build_bundle

    def drifted(summary, model):  # the exported graph sees a different memory bank than torch
        bundle = real_build(summary, model)
        for tensor in bundle.graph.initializer:
            if "bank_sq" in tensor.name:
                values = onnx.numpy_helper.to_array(tensor) + 50.0
                tensor.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.float32), tensor.name))
        return bundle

    monkeypatch.setattr(writer, "build_bundle", drifted)
    with pytest.raises(InspectorError) as info:
        export_run(run, tmp_path / "model.onnx")
    assert "parity" in str(info.value) and "max |score diff|" in str(info.value)
    assert not (tmp_path / "model.onnx").exists()
