"""Ray Data runs equal local runs; INT8/FP16 bundles; the benchmark table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnx
import pytest

from inspector.batch.store import read_rows as load_rows
from inspector.cli import main
from inspector.errors import InspectorError


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed (pip install 'ray[data]') - the --ray runner is optional",
)
def test_ray_run_gives_the_same_results_as_the_local_run(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    import ray

    _, bundle = patchcore_bundle
    local, remote = tmp_path / "local", tmp_path / "ray"
    common = [str(synthetic_data), "--split", "test", "--model", str(bundle), "--no-progress", "--threads", "1"]
    assert main(["batch", *common, "--out", str(local)]) == 0
    try:
        assert main(["batch", *common, "--out", str(remote), "--ray", "local", "--ray-actors", "1"]) == 0
    finally:
        ray.shutdown()
    a = {r["path"]: r for r in load_rows(local)}
    b = {r["path"]: r for r in load_rows(remote)}
    assert a.keys() == b.keys()
    for path, row in a.items():
        other = b[path]
        assert (row["sha256"], row["verdict"], row["label"], row["error"]) == (
            other["sha256"],
            other["verdict"],
            other["label"],
            other["error"],
        ), path
        assert other["score"] == pytest.approx(row["score"], rel=1e-5, abs=1e-6), path
        assert bool(row["heatmap"]) == bool(other["heatmap"])
    metrics_a = json.loads((local / "metrics.json").read_text())
    metrics_b = json.loads((remote / "metrics.json").read_text())
    assert metrics_b["image_auroc"] == pytest.approx(metrics_a["image_auroc"], abs=1e-9)
    assert metrics_b["pixel_auroc"] == pytest.approx(metrics_a["pixel_auroc"], abs=1e-4)


def test_int8_export_is_checked_against_fp32_and_inspects(
    padim_bundle, synthetic_data: Path, tmp_path: Path, capsys
) -> None:
    from export.cli import export_run

    run, _ = padim_bundle
    out = tmp_path / "int8.onnx"
    description = export_run(run, out, precision="int8")
    assert "int8 against fp32" in description and "image_auroc" in description
    model = onnx.load(str(out))
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["inspector.precision"] == "int8"
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in model.graph.output)
    metrics = json.loads(props["inspector.metrics"])
    assert metrics["fp32_image_auroc"] - metrics["image_auroc"] <= 0.005
    assert (
        main(
            [
                "batch",
                str(synthetic_data),
                "--split",
                "test",
                "--model",
                str(out),
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
            ]
        )
        == 0
    )


def test_reduced_precision_export_fails_on_a_large_auroc_drop_unless_kept(
    padim_bundle, tmp_path: Path, monkeypatch
) -> None:
    import export.quantize as quantize
    from export.cli import export_run

    run, _ = padim_bundle
    monkeypatch.setattr(quantize, "MAX_AUROC_DROP", -1.0)  # any result counts as too large a drop
    out = tmp_path / "fp16.onnx"
    with pytest.raises(InspectorError, match="nothing was written"):
        export_run(run, out, precision="fp16")
    assert not out.exists()
    export_run(run, out, precision="fp16", keep=True)
    model = onnx.load(str(out))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    assert {p.key: p.value for p in model.metadata_props}["inspector.precision"] == "fp16"


def test_benchmark_prints_latency_throughput_and_the_torch_ratio(padim_bundle, tmp_path: Path, capsys) -> None:
    run, bundle = padim_bundle
    assert (
        main(
            [
                "benchmark",
                "--model",
                str(bundle),
                "--batch",
                "1,2",
                "--seconds",
                "0.2",
                "--warmup",
                "1",
                "--against",
                str(run),
                "--json",
                str(tmp_path / "bench.json"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for part in ("p50 ms", "p99 ms", "img/s", "onnxruntime CPU", "torch eager", "x", "best onnxruntime throughput"):
        assert part in printed, part
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert {(r["runtime"].split()[0], r["batch"]) for r in rows} == {
        ("onnxruntime", 1),
        ("onnxruntime", 2),
        ("torch", 1),
        ("torch", 2),
    }
    assert all(r["speedup_vs_torch"] > 0 for r in rows if r["runtime"].startswith("onnxruntime"))
