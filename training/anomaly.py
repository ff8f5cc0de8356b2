"""Task `anomaly`: read the geometry from the data, fit, choose the method, calibrate, evaluate, save the run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inspector.data.dataset import Dataset, load_dataset
from inspector.errors import DatasetError, ImageReadError, InspectorError
from inspector.imageio import read_image_size
from inspector.metrics import anomaly_metrics, operating_first
from inspector.threshold import f1_best_threshold
from training.alignment import choose_alignment
from training.anomaly_model import (
    AnomalyMap,
    PatchFeatures,
    default_sigma,
    forward_stages,
    pick_stages,
)
from training.backbone import create_backbone, make_padding_static, normalisation
from training.calibration import calibrate, highest_good
from training.candidates import Candidate, build_views, fit_candidate
from training.candidates import alignment_rule as explain_alignment
from training.config import METHODS, AnomalyConfig
from training.evaluation import score_split
from training.fit import extract_features
from training.gates import with_ood_gate
from training.geometry import Geometry, geometry_options
from training.images import load_samples
from training.onnx_features import OnnxFeatures
from training.reviewed import add_reviewed
from training.run import save_run
from training.run_summary import RunSummary
from training.samples import fit_goods, held_out_goods, judging_sample
from training.selection import choose
from training.synthetic_defects import SyntheticDefect, rescale_defects, synthetic_defects
from training.tiling import Tiler


def _features_module(cfg: AnomalyConfig, view: tuple[int, int]) -> tuple[PatchFeatures, dict]:
    backbone = create_backbone(cfg.backbone, cfg.weights)
    mean, std = normalisation(backbone)
    stages = pick_stages(backbone.feature_info)
    backbone.prune_intermediate_layers(indices=stages, prune_head=True)
    make_padding_static(backbone, view, forward_stages(stages))
    module = PatchFeatures(backbone, stages, mean, std).eval()
    return module, {"backbone": cfg.backbone, "stages": stages, "mean": list(mean), "std": list(std)}


def _require(dataset: Dataset) -> None:
    if not dataset.select(split="train", good=True):
        raise DatasetError(f"{dataset.root}: no good images in the training split", "add good images to train")
    if not dataset.select(split="val", good=True):
        raise DatasetError(
            f"{dataset.root}: no good images to calibrate the threshold on (val split)",
            "add good images to the val split",
        )


def geometries_for(cfg: AnomalyConfig, dataset: Dataset) -> list[Geometry]:
    """The rule's geometry from the training images' sizes, then any alternative the fit measures beside it."""
    try:
        sizes = [read_image_size(s.path) for s in dataset.select(split="train", good=True)]
    except ImageReadError as exc:
        raise DatasetError(
            f"unreadable image in the dataset: {exc.message}", "replace or remove the file (and its manifest row)"
        ) from exc
    exact = cfg.image_size if isinstance(cfg.image_size, tuple) else None
    base = cfg.image_size if isinstance(cfg.image_size, int) else 256
    return geometry_options(sizes, base=base, image_size=exact, tile=cfg.tile)


class Extractor:
    """Images at the input geometry -> patch features (of every tile, image-major; cut by the Tiler the graph mirrors).

    The features come from the module's ONNX graph under onnxruntime (OnnxFeatures): what the bundle runs, faster.
    """

    def __init__(self, module: PatchFeatures, tiler: Tiler | None, cfg: AnomalyConfig, view: tuple[int, int]) -> None:
        self.module, self.tiler, self.cfg = OnnxFeatures(module, view), tiler, cfg

    def __call__(
        self, images: list[np.ndarray], desc: str, *, reserve: int = 0, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Features of every view of `images`; `reserve` rows (in views) to spare after them, or into `out`."""
        tiler = self.tiler
        split = None if tiler is None else (lambda image: list(tiler.split(torch.from_numpy(image[None])).numpy()))
        return extract_features(
            self.module,
            images,
            self.cfg.batch_size,
            desc,
            self.cfg.progress,
            split=split,
            views_per_image=self.views_per_image,
            reserve=reserve,
            out=out,
        )

    @property
    def views_per_image(self) -> int:
        return 1 if self.tiler is None else self.tiler.count


@dataclass
class Setup:
    """One geometry's feature module, tiler, extractor and map post-processing."""

    geometry: Geometry
    module: PatchFeatures
    spec: dict
    tiler: Tiler | None
    extract: Extractor
    post: AnomalyMap
    grid: tuple[int, int]  # patch positions of the whole input (stride 8)
    proposed: dict | None = None  # the alignment the rule proposes on this geometry's views
    alignment_rule: str = "off: tiled"
    train: list = field(default_factory=list)  # the training goods its heads fit on (training.geometry.fit_sample)
    fit_note: str | None = None  # why not all of them

    @classmethod
    def build(cls, cfg: AnomalyConfig, geometry: Geometry) -> Setup:
        size = geometry.input_size
        module, spec = _features_module(cfg, geometry.view)
        tiler = Tiler(size, geometry.tile, geometry.row_offsets, geometry.col_offsets) if geometry.tiled else None
        grid = (size[0] // 8, size[1] // 8)
        post = AnomalyMap(size, default_sigma(geometry.view), grid)
        return cls(geometry, module, spec, tiler, Extractor(module, tiler, cfg, geometry.view), post, grid)


def _candidates(cfg: AnomalyConfig) -> list[str]:
    """The methods to fit on every geometry; on tiles, PaDiM's positions are a tile's, shared by every tile."""
    if cfg.method not in (*METHODS, "auto"):
        raise InspectorError(f"--method {cfg.method!r} is unknown", f"use one of {', '.join(METHODS)} or auto")
    if cfg.method != "auto":
        return [cfg.method]
    return list(METHODS)


def _fit_candidates(
    cfg: AnomalyConfig,
    geometries: list[Geometry],
    train_all: list,
    added: list,
    val_s: list,
    val_defect: np.ndarray,
) -> tuple[dict[str, Candidate], dict[str, Setup]]:
    """Every candidate: method x alignment option x geometry, fitted, calibrated and judged.

    Neither tiling nor alignment is assumed: where a rule proposes one, the heads also fit without it, and the
    same selection as the method's decides. Where geometries compete, the synthetic defects are drawn once, at
    the finest, and shrunk for the coarser view (`rescale_defects`), so both are judged on the same defects.
    Returns the candidates and each one's geometry setup.
    """
    methods = _candidates(cfg)  # a wrong --method fails before any image loads
    all_sizes = [read_image_size(s.path) for s in train_all]
    fitted: dict[str, Candidate] = {}
    setup_of: dict[str, Setup] = {}
    finest: list[SyntheticDefect] | None = None
    for index, geometry in enumerate(geometries):
        started = time.perf_counter()
        setup = Setup.build(cfg, geometry)
        size, policy = geometry.input_size, geometry.resize
        kept, setup.fit_note = fit_goods(cfg, train_all, added, geometry, val_defect)
        setup.train, frame_sizes = [train_all[i] for i in kept], [all_sizes[i] for i in kept]
        train_img, _ = load_samples(setup.train, size, policy=policy)
        if not geometry.tiled:
            setup.proposed, setup.alignment_rule = choose_alignment(train_img)
        val_img, _ = load_samples(val_s, size, with_masks=True, policy=policy)  # checks the masks too
        drawn = None
        if len(geometries) > 1:
            goods = [im for im, d in zip(val_img, val_defect, strict=True) if not d]
            if finest is None:  # the rule's geometry comes first, and it is the finer one
                drawn = finest = synthetic_defects(goods, cfg.synthetic_defects, cfg.seed)
            else:
                drawn = rescale_defects(finest, goods)
        load_s = time.perf_counter() - started
        prepared = []
        for alignment in [None] if setup.proposed is None else [None, setup.proposed]:
            t0 = time.perf_counter()
            views = build_views(setup.extract, cfg, train_img, frame_sizes, val_img, val_defect, alignment, drawn)
            prepared.append((views, load_s + time.perf_counter() - t0))
        del train_img, val_img, drawn  # the images are not needed once every option's features are out
        suffix = "" if index == 0 else ", one view"  # geometry_options: the rule's choice, then the one view
        for views, extract_s in prepared:
            for method in methods:
                name = method + suffix + ("" if views.alignment is None else ", aligned")
                fitted[name] = fit_candidate(method, views, setup.post, setup.tiler, cfg, val_defect, extract_s)
                setup_of[name] = setup
    return fitted, setup_of


def _geometry_rule(setup_of: dict[str, Setup], chosen: str) -> str:
    """Why the chosen model tiles or not: the rule's reason, and where geometries competed, which won."""
    geometry = setup_of[chosen].geometry
    if len({id(s) for s in setup_of.values()}) == 1:
        return geometry.reason
    won = "tiles" if geometry.tiled else "one view"
    return f"{won}: {chosen} won against the {'one-view' if geometry.tiled else 'tiled'} candidates ({geometry.reason})"


def train_anomaly(cfg: AnomalyConfig) -> RunSummary:
    """Fit, select, calibrate and evaluate; writes the run folder and returns its summary."""
    torch.manual_seed(cfg.seed)
    loaded = load_dataset(cfg.data, seed=cfg.seed)
    dataset, reviewed = add_reviewed(loaded, cfg.add_reviewed)
    _require(dataset)
    train_all = dataset.select(split="train", good=True)
    geometries = geometries_for(cfg, dataset)
    val_all, test_s = dataset.select(split="val"), dataset.select(split="test")
    val_s, val_note = judging_sample(cfg, val_all, geometries)
    val_defect = np.array([not s.is_good for s in val_s])
    added = dataset.samples[len(loaded.samples) :]
    fitted, setup_of = _fit_candidates(cfg, geometries, train_all, added, val_s, val_defect)
    judged = {name: c.judged for name, c in fitted.items()}
    fit_seconds = {name: c.fit_seconds for name, c in fitted.items()}
    name, rule = choose(judged)
    best, setup = fitted[name], setup_of[name]
    method, alignment, views = best.method, best.views.alignment, best.views
    geometry, module, spec, tiler, post = setup.geometry, setup.module, setup.spec, setup.tiler, setup.post
    size, grid, train_s = geometry.input_size, setup.grid, setup.train
    alignment_rule = explain_alignment(setup.proposed, setup.alignment_rule, fitted, name)
    geometry_rule = _geometry_rule(setup_of, name)
    # Only the candidates on the chosen views are scored on the test split (the test views are theirs); the
    # others' features and modules go.
    same_views = {other: c for other, c in fitted.items() if c.views is views}
    del fitted, setup_of
    deployed, val_scores = best.deployed, best.val_scores
    # Goods the memory bound left out of the fit: the deployed model's own scores of them calibrate beside CV+'s.
    # The candidates were judged at their CV+ thresholds; only the chosen one's is calibrated again with them.
    held, held_note = held_out_goods(cfg, train_all, train_s, val_all, val_s, geometry)
    held_scores, held_not_found = np.zeros(0, np.float32), 0
    if held:
        scorer = {name: best.scorer}
        scored = score_split(held, geometry, setup.extract, post, alignment, scorer, None, "held-out goods")
        held_scores, held_not_found = scored.scores[name], scored.not_found
        oof_train, val_good = best.oof.among(slice(0, views.n_train)), val_scores[~val_defect]
        deployed = calibrate(oof_train, val_good, cfg.target_frr, held_out=held_scores)
    gates = with_ood_gate(
        views.gates,
        deployed["threshold"],
        [best.oof.maps[i] for i in views.val_good_ids],
        list(best.defect_maps) + best.oof.companion_maps,
    )
    thresholds = {"deployed": deployed}
    good_images = [(str(s.path.resolve()), "train") for s in train_s] + [
        (str(s.path.resolve()), "val") for s, d in zip(val_s, val_defect, strict=True) if not d
    ]
    good_images += [(str(s.path.resolve()), f"{s.split}, not fitted") for s in held]
    setters = highest_good(np.concatenate([best.oof.scores, held_scores]), good_images, deployed["threshold"])
    if val_defect.any():
        thresholds["f1_best"] = f1_best_threshold(val_defect, val_scores)

    not_found = dict(views.not_found)
    if alignment is not None and held:
        not_found["held_out"] = held_not_found
    scorers = {other: c.scorer for other, c in same_views.items()}
    test = score_split(test_s, geometry, setup.extract, setup.post, alignment, scorers, name)
    not_found["test"], test_masks = test.not_found, test.masks
    test_scores, test_maps = test.scores[name], test.maps
    labels = [s.label for s in test_s]
    comparison, metrics, chosen = {}, {}, None
    for other_name, candidate in same_views.items():
        scores = test.scores[other_name]
        if test_s and len(same_views) > 1:  # pixel metrics cost seconds: the chosen model's only, computed once
            pixels = (test_masks, list(test_maps)) if other_name == name else (None, None)
            other = anomaly_metrics(labels, scores, candidate.deployed["threshold"], *pixels)
            chosen = other if other_name == name else chosen
            comparison[other_name] = {
                k: other.get(k)
                for k in (
                    "image_auroc",
                    "average_precision",
                    "pixel_auroc",
                    "aupro",
                    "detection_rate",
                    "false_reject_rate",
                    "detection_rate_by_type",
                )
            }
            comparison[other_name]["selection"] = judged[other_name]
    head, extra = best.head, best.extra
    if extra["channels"] is not None:
        module.channels = extra["channels"]  # the channel reduction travels inside the feature module
    if test_s:
        chosen = chosen or anomaly_metrics(labels, test_scores, deployed["threshold"], test_masks, list(test_maps))
        metrics = operating_first(chosen, labels, test_scores, deployed["threshold"])
        for info in thresholds.values():
            at = anomaly_metrics(labels, test_scores, info["threshold"])
            info["test_detection_rate"] = at["detection_rate"]
            info["test_false_reject_rate"] = at["false_reject_rate"]
    for info in thresholds.values():
        at = anomaly_metrics([s.label for s in val_s], val_scores, info["threshold"])
        info["val_detection_rate"] = at["detection_rate"]
        info["val_false_reject_rate"] = at["false_reject_rate"]

    summary = RunSummary(
        task="anomaly",
        method=method,
        class_names=["good", *dataset.defect_types],
        image_size=size,
        threshold=deployed["threshold"],
        thresholds=thresholds,
        target_frr=cfg.target_frr,
        metrics=metrics,
        seed=cfg.seed,
        data=str(Path(cfg.data).resolve()),
        data_layout=dataset.layout,
        data_fingerprint=dataset.fingerprint(),
        counts={
            "train_good": len(train_all),
            "fit_train_good": len(train_s),
            "val": len(val_all),
            "val_judged": len(val_s),
            "test": len(test_s),
            "fit_good": views.n_good,
            "calibration_held_out": len(held),
        },
        geometry=geometry.to_dict(),
        alignment=alignment,
        gates=gates,
        calibration_warning=deployed.get("warning"),
        grid=list(grid),
        view_grid=list(views.good.shape[2:]),
        sigma=post.sigma,
        **spec,
        block=extra.get("block"),
        bank_size=extra.get("bank_size"),
        channels=None if extra["channels"] is None else extra["channels"].tolist(),
        details={
            "method_selection": {
                "requested": cfg.method,
                "rule": rule,
                "candidates": judged,
                "synthetic_defects": views.synthetic,
            },
            "alignment_rule": alignment_rule,
            "geometry_rule": geometry_rule,
            "fit_sample": setup.fit_note,
            "val_sample": val_note,
            "calibration_held_out": held_note,
            "threshold_setters": setters,
            "parts_not_found": not_found,
            "method_comparison": comparison,
            "fit_seconds": fit_seconds,
            **({"reviewed": reviewed} if reviewed else {}),
        },
    )
    save_run(cfg.out, summary, module, head, post, test_scores, labels, [str(s.path) for s in test_s], tiler)
    return summary
