"""Task `anomaly`: fit on good training images, pick the method, calibrate, evaluate, save the run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inspector.data.dataset import Dataset, load_dataset
from inspector.errors import DatasetError, InspectorError
from inspector.metrics import anomaly_metrics, roc_auc
from inspector.threshold import conformal_threshold, f1_best_threshold
from training.anomaly_model import (AnomalyMap, PadimHead, PatchCoreHead, PatchFeatures, default_sigma,
                                    forward_stages, padim_layout, pick_stages)
from training.backbone import create_backbone, make_padding_static, normalisation
from training.fit import extract_features, fit_padim, fit_patchcore
from training.images import load_samples
from training.run import save_run

METHODS = ("patchcore", "padim")
DEFAULT_METHOD = "patchcore"  # without validation defects: robust when parts are not aligned


@dataclass
class AnomalyConfig:
    data: Path
    out: Path
    backbone: str = "tf_efficientnet_lite0"
    weights: str | None = None
    image_size: int = 256
    method: str = "auto"
    seed: int = 0
    target_frr: float = 0.01
    coreset_size: int = 2048
    batch_size: int = 16
    progress: bool = True


def _features_module(cfg: AnomalyConfig) -> tuple[PatchFeatures, dict]:
    backbone = create_backbone(cfg.backbone, cfg.weights)
    mean, std = normalisation(backbone)
    stages = pick_stages(backbone.feature_info)
    backbone.prune_intermediate_layers(indices=stages, prune_head=True)
    make_padding_static(backbone, (cfg.image_size, cfg.image_size), forward_stages(stages))
    module = PatchFeatures(backbone, stages, mean, std).eval()
    return module, {"backbone": cfg.backbone, "stages": stages, "mean": list(mean), "std": list(std)}


def _fit(method: str, train: torch.Tensor, cfg: AnomalyConfig) -> tuple[torch.nn.Module, dict]:
    _, c, h, w = train.shape
    if method == "padim":
        block, channels = padim_layout(c, (h, w))
        keep = None
        if channels < c:
            generator = torch.Generator().manual_seed(cfg.seed)
            keep = torch.randperm(c, generator=generator)[:channels].sort().values
            train = train.index_select(1, keep)
        mean, inv_cov = fit_padim(train, block)
        return PadimHead(mean, inv_cov, (h, w), block), {"block": block, "channels": keep}
    size = min(cfg.coreset_size, max(1, train.shape[0] * h * w // 10))
    bank = fit_patchcore(train, bank_size=size, seed=cfg.seed, progress=cfg.progress)
    return PatchCoreHead(bank), {"bank_size": int(bank.shape[0]), "channels": None}


@torch.inference_mode()
def _score(head: torch.nn.Module, post: AnomalyMap, features: torch.Tensor, keep, batch: int = 32):
    scores, maps = [], []
    for start in range(0, len(features), batch):
        f = features[start : start + batch]
        score, amap = post(head(f if keep is None else f.index_select(1, keep)))
        scores.append(score)
        maps.append(amap)
    if not scores:
        return np.zeros(0, np.float32), np.zeros((0,) + post.output_size, np.float32)
    return torch.cat(scores).numpy(), torch.cat(maps).numpy()


def _require(dataset: Dataset) -> None:
    if not dataset.select(split="train", good=True):
        raise DatasetError(f"{dataset.root}: no good images in the training split", "add good images to train")
    if not dataset.select(split="val", good=True):
        raise DatasetError(f"{dataset.root}: no good images to calibrate the threshold on (val split)",
                           "add good images to the val split")


def train_anomaly(cfg: AnomalyConfig) -> dict:
    """Fit, select, calibrate and evaluate; writes the run folder and returns its summary."""
    if cfg.method not in METHODS + ("auto",):
        raise InspectorError(f"--method {cfg.method!r} is unknown", f"use one of {', '.join(METHODS)} or auto")
    torch.manual_seed(cfg.seed)
    dataset = load_dataset(cfg.data, seed=cfg.seed)
    _require(dataset)
    size = (cfg.image_size, cfg.image_size)
    train_s = dataset.select(split="train", good=True)
    val_s, test_s = dataset.select(split="val"), dataset.select(split="test")
    features, spec = _features_module(cfg)

    started = time.perf_counter()
    train_img, _ = load_samples(train_s, size)
    train_f = extract_features(features, train_img, cfg.batch_size, "train features", cfg.progress)
    val_img, _ = load_samples(val_s, size, with_masks=True)  # checks the masks too
    val_f = extract_features(features, val_img, cfg.batch_size, "val features", cfg.progress)
    extract_s = time.perf_counter() - started

    val_defect = np.array([not s.is_good for s in val_s])
    candidates = list(METHODS) if cfg.method == "auto" and val_defect.any() else (
        [DEFAULT_METHOD] if cfg.method == "auto" else [cfg.method])
    post = AnomalyMap(size, default_sigma(cfg.image_size), tuple(train_f.shape[2:]))
    fitted, fit_seconds, selection = {}, {}, {}
    for method in candidates:
        t0 = time.perf_counter()
        head, extra = _fit(method, train_f, cfg)
        fit_seconds[method] = round(extract_s + time.perf_counter() - t0, 2)
        val_scores, _ = _score(head, post, val_f, extra["channels"])
        fitted[method] = (head, extra, val_scores)
        if val_defect.any():
            selection[method] = roc_auc(val_defect, val_scores)
    method = max(selection, key=selection.get) if len(candidates) > 1 else candidates[0]
    head, extra, val_scores = fitted[method]

    val_good = val_scores[~val_defect]
    threshold = conformal_threshold(val_good, cfg.target_frr)
    thresholds = {"deployed": threshold}
    if val_defect.any():
        thresholds["f1_best"] = f1_best_threshold(val_defect, val_scores)

    test_img, test_masks = load_samples(test_s, size, with_masks=True)
    test_f = extract_features(features, test_img, cfg.batch_size, "test features", cfg.progress)
    labels = [s.label for s in test_s]
    comparison = {}
    for name, (other_head, other_extra, other_val) in fitted.items():
        scores, maps = _score(other_head, post, test_f, other_extra["channels"])
        if name == method:
            test_scores, test_maps = scores, maps
        if test_s and len(fitted) > 1:
            other = anomaly_metrics(labels, scores, conformal_threshold(other_val[~val_defect], cfg.target_frr)["threshold"],
                                    test_masks, list(maps))
            comparison[name] = {k: other.get(k) for k in ("image_auroc", "average_precision", "pixel_auroc", "aupro",
                                                          "detection_rate", "false_reject_rate", "detection_rate_by_type")}
            comparison[name]["val_auroc"] = selection.get(name)
    if extra["channels"] is not None:
        features.channels = extra["channels"]  # the channel reduction travels inside the feature module
    metrics = {}
    if test_s:
        metrics = anomaly_metrics(labels, test_scores, threshold["threshold"], test_masks, list(test_maps))
        for name, info in thresholds.items():
            at = anomaly_metrics(labels, test_scores, info["threshold"])
            info["test_detection_rate"] = at["detection_rate"]
            info["test_false_reject_rate"] = at["false_reject_rate"]
    for name, info in thresholds.items():
        at = anomaly_metrics([s.label for s in val_s], val_scores, info["threshold"])
        info["val_detection_rate"] = at["detection_rate"]
        info["val_false_reject_rate"] = at["false_reject_rate"]

    summary = {
        "task": "anomaly", "method": method, "method_selection": {
            "requested": cfg.method, "val_auroc": selection,
            "rule": "highest validation AUROC" if len(candidates) > 1 else
            (f"default ({DEFAULT_METHOD}): no validation defects" if cfg.method == "auto" else "requested")},
        "image_size": list(size), "grid": list(train_f.shape[2:]), "sigma": post.sigma, **spec,
        "block": extra.get("block"), "bank_size": extra.get("bank_size"),
        "channels": None if extra["channels"] is None else extra["channels"].tolist(),
        "class_names": ["good"] + dataset.defect_types,
        "threshold": threshold["threshold"], "thresholds": thresholds, "target_frr": cfg.target_frr,
        "metrics": metrics, "method_comparison": comparison, "fit_seconds": fit_seconds, "seed": cfg.seed,
        "data": str(Path(cfg.data).resolve()), "data_layout": dataset.layout,
        "data_fingerprint": dataset.fingerprint(),
        "counts": {"train_good": len(train_s), "val": len(val_s), "test": len(test_s)},
    }
    save_run(cfg.out, summary, features, head, post, test_scores, labels, [str(s.path) for s in test_s])
    return summary
