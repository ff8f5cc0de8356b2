"""`inspector train`: options derived from the config dataclasses (training.config); torch is imported when
the verb runs."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training.config import AnomalyConfig, ClassifyConfig
    from training.options import add_options

    parser.add_argument(
        "--task",
        choices=["anomaly", "classify"],
        default="anomaly",
        help="anomaly: learn good parts only; classify: learn every labelled class",
    )
    added = add_options(parser, AnomalyConfig)
    add_options(parser.add_argument_group("classify (--task classify)"), ClassifyConfig, skip=added)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from inspector.errors import InspectorError
    from training.config import AnomalyConfig
    from training.geometry import parse_size
    from training.options import config_from_args

    size = parse_size(args.image_size, "--image-size")
    if args.tile not in (None, "auto", "none"):
        parse_size(args.tile, "--tile")
    if args.task == "classify":
        if args.add_reviewed is not None:
            raise InspectorError(
                "--add-reviewed adds to an anomaly model's data; --task classify does not take it",
                "export the queue (split.csv) and merge its rows into the classifier's manifest",
            )
        if isinstance(size, tuple):
            raise InspectorError("--task classify takes a square --image-size N", "e.g. --image-size 224")
        return _run_classify(args, 224 if size is None else size)
    cfg = config_from_args(AnomalyConfig, args, image_size=256 if size is None else size)
    from training.anomaly import train_anomaly
    from training.samples import NOTES as SAMPLE_NOTES

    summary = train_anomaly(cfg)
    m = summary.metrics
    print(
        f"method {summary.method} ({summary.details['method_selection']['rule']}); "
        f"fit {summary.details['fit_seconds']} s"
    )
    print(f"geometry {summary.details.get('geometry_rule') or summary.geometry['reason']}")
    for key in SAMPLE_NOTES:
        if summary.details.get(key):
            print(summary.details[key])
    reviewed = summary.details.get("reviewed")
    if reviewed:
        print(
            f"added from the review queue {reviewed['queue']}: {reviewed['train_good']} good part(s) to train, "
            f"{reviewed['val_defects']} escape(s) to val"
        )
    deployed = summary.thresholds["deployed"]
    low, high = deployed["expected_frr_interval90"]
    print(
        f"threshold {summary.threshold:.4f} ({deployed['method']} over {deployed['n_calibration']} good images, "
        f"target FRR {summary.target_frr}; expected FRR {deployed['expected_frr']:.4f}, 90 % interval "
        f"{low:.4f}-{high:.4f})"
    )
    if summary.calibration_warning:
        print(f"WARNING: {summary.calibration_warning}")
    setters = summary.details.get("threshold_setters") or []
    if setters:
        print(
            "the good images that set it (out of fold; a defect labelled good raises the threshold for every part, "
            "review them): "
            + ", ".join(f"{Path(s['image']).name} {s['score']:.2f} ({s['split']})" for s in setters[:3])
        )
    if m:
        points = m.get("operating_points", {})
        print(
            "test at the deployed threshold and at observed FRR 1 % / 0.1 %: "
            + json.dumps(
                {name: {"detection": p["detection_rate"], "frr": p["false_reject_rate"]} for name, p in points.items()}
            )
        )
        keys = ("image_auroc", "average_precision", "f1", "pixel_auroc", "aupro")
        print("test: " + json.dumps({k: m.get(k) for k in keys}))
    print(
        f"run written to {cfg.out} (report.md, metrics.json); export with: inspector export {cfg.out} --out model.onnx"
    )
    return 0


def _run_classify(args: argparse.Namespace, size: int) -> int:
    from training.config import ClassifyConfig
    from training.options import config_from_args

    cfg = config_from_args(ClassifyConfig, args, image_size=size)
    from training.classify import train_classify

    summary = train_classify(cfg)
    if summary is None:  # a non-zero DDP rank: rank 0 reports
        return 0
    m, details = summary.metrics, summary.details
    print(
        f"{summary.method} {summary.backbone}: best epoch {details['best_epoch']} of {details['epochs_run']}; "
        f"training {details['train_seconds']} s on {details['world_size']} process(es)"
    )
    if summary.role == "typer":
        print(
            f"a typer (defect types only: {', '.join(summary.class_names)}): it names the type of NG parts and "
            "never decides OK/NG; chain it with [model] typer or `inspector batch --typer`"
        )
    else:
        print(f"threshold {summary.threshold:.4f} (conformal on 1 - P(good), target FRR {summary.target_frr})")
    if m:
        keys = (
            ("accuracy", "macro_f1")
            if summary.role == "typer"
            else ("accuracy", "macro_f1", "image_auroc", "detection_rate", "false_reject_rate")
        )
        print("test: " + json.dumps({k: m.get(k) for k in keys}))
    print(
        f"run written to {cfg.out} (report.md, metrics.json); export with: inspector export {cfg.out} --out model.onnx"
    )
    return 0
