"""A training run folder: run.json (what was fitted and how it scored) + model.safetensors (tensors only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors.torch import load_file, save_file

from inspector.errors import InspectorError
from training.anomaly_model import (
    AnomalyMap,
    AnomalyModel,
    PadimHead,
    PatchCoreHead,
    PatchFeatures,
    forward_stages,
)
from training.backbone import make_padding_static
from training.geometry import Geometry
from training.run_summary import RunSummary, load_summary
from training.tiling import Tiler

WEIGHTS_FILE = "model.safetensors"


def save_run(
    out: Path,
    summary: RunSummary,
    features: PatchFeatures,
    head: torch.nn.Module,
    post: AnomalyMap,
    test_scores: np.ndarray,
    test_labels: list[str],
    test_paths: list[str],
    tiler=None,
) -> None:
    """Write run.json, model.safetensors, metrics.json and the readable report with plots."""
    from training.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = AnomalyModel(features, head, post, tiler)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE))
    summary.write(out)
    (out / "metrics.json").write_text(json.dumps(summary.metrics, indent=2))  # operating points first
    write_report(out, summary, test_scores, test_labels, test_paths)


def load_run(run_dir: Path) -> tuple[RunSummary, AnomalyModel]:
    """The run's summary and its torch reference model, rebuilt without any pretrained-weight lookup."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    if not summary.geometry:
        raise InspectorError(
            f"{run_dir} was written by an older version of Inspector (no input geometry)",
            "train the run again with this version",
        )
    if summary.stages is None or summary.mean is None or summary.std is None or summary.grid is None:
        raise InspectorError(
            f"{run_dir}: run.json lacks the feature stages, normalisation or grid of an anomaly run",
            "train the run again with this version",
        )
    state = load_file(str(run_dir / WEIGHTS_FILE))
    geometry = Geometry.from_dict(summary.geometry)
    backbone = timm.create_model(summary.backbone, pretrained=False)
    backbone.prune_intermediate_layers(indices=summary.stages, prune_head=True)
    make_padding_static(backbone, geometry.view, forward_stages(summary.stages))
    channels = None if summary.channels is None else torch.tensor(summary.channels, dtype=torch.long)
    features = PatchFeatures(backbone, summary.stages, summary.mean, summary.std)
    if summary.method == "padim":
        head = PadimHead(state["head.mean"], state["head.inv_cov"], tuple(summary.view_grid or ()), summary.block)
    else:
        head = PatchCoreHead(state["head.bank"])
    post = AnomalyMap(summary.image_size, summary.sigma, tuple(summary.grid))
    tiler = (
        Tiler(geometry.input_size, geometry.tile, geometry.row_offsets, geometry.col_offsets)
        if geometry.tiled
        else None
    )
    model = AnomalyModel(features, head, post, tiler)
    if channels is not None:
        model.features.channels = channels
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # torch reports missing/unexpected/mis-shaped tensors this way
        raise InspectorError(
            f"{run_dir} was written by another version of Inspector ({str(exc).splitlines()[0]})",
            "train the run again with this version",
        ) from exc
    return summary, model.eval()
