"""Building a training run's ONNX bundle: trace features, append the head, stamp metadata, self-check.

The file, its sidecar and the reload check are `inspector.bundle.write.save_bundle`.
"""

from __future__ import annotations

import datetime as dt

import onnx
import torch

from export.onnx_head import append_anomaly_head
from inspector import __version__
from inspector.bundle.schema import BundleMetadata
from inspector.bundle.write import write_metadata
from training.onnx_features import OPSET, trace_features  # noqa: F401  (OPSET: classify_export's too)
from training.run_summary import RunSummary


def metadata_for(summary: RunSummary, *, precision: str = "fp32") -> BundleMetadata:
    """The bundle metadata of a run (provenance stamped now)."""
    return BundleMetadata(
        task=summary.task,
        class_names=list(summary.class_names),
        input_size=summary.image_size,
        threshold=summary.threshold,
        threshold_method=summary.thresholds,
        backbone=summary.backbone,
        method=summary.method,
        data_fingerprint=summary.data_fingerprint,
        metrics=summary.metrics,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        package_version=__version__,
        resize=summary.resize,
        geometry=dict(summary.geometry),
        alignment=summary.alignment,
        precision=precision,
        gates=summary.gates,
        role=summary.role,  # type: ignore[arg-type]  # RunSummary checked it is a Role
    )


def stamp_and_check(proto: onnx.ModelProto, summary: RunSummary, name: str) -> onnx.ModelProto:
    """Name the graph, write the bundle metadata and run the full ONNX checker."""
    proto.graph.name = name
    proto.producer_name = "inspector"
    proto.producer_version = __version__
    write_metadata(proto, metadata_for(summary))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def build_bundle(summary: RunSummary, model: torch.nn.Module) -> onnx.ModelProto:
    """The complete bundle as an in-memory ONNX model (checked with the full checker)."""
    tiler = getattr(model, "tiler", None)
    graph = trace_features(model.features, tiler.tile if tiler is not None else summary.image_size)
    if tiler is not None:
        from export.onnx_tiling import prepend_tiling

        graph = prepend_tiling(graph, tiler)
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items() if k.startswith(("head.", "post."))}
    graph = append_anomaly_head(graph, "features", state, summary, tiler=tiler)
    return stamp_and_check(graph, summary, f"inspector-{summary.task}-{summary.method}")
