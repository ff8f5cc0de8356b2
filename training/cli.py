"""`inspector train`: argument parsing only; torch is imported when the verb runs."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (split.csv, MVTec layout or class folders)")
    parser.add_argument("--task", choices=["anomaly"], default="anomaly", help="anomaly: learn good parts only")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--backbone", default="tf_efficientnet_lite0", help="timm model name")
    parser.add_argument("--weights", default=None, help="local weights file (safetensors) for the backbone")
    parser.add_argument("--image-size", type=int, default=256, help="square input size in pixels")
    parser.add_argument("--method", choices=["auto", "patchcore", "padim"], default="auto",
                        help="auto: best validation AUROC where validation defects exist, else patchcore")
    parser.add_argument("--target-frr", type=float, default=0.01, help="target false-reject rate for the threshold")
    parser.add_argument("--coreset-size", type=int, default=2048, help="PatchCore memory bank size (upper bound)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from inspector.errors import InspectorError
    from training.anomaly import AnomalyConfig, train_anomaly

    if not 0 < args.target_frr < 1:
        raise InspectorError(f"--target-frr {args.target_frr} must be between 0 and 1", "e.g. --target-frr 0.01")
    if args.image_size < 32 or args.image_size % 32:
        raise InspectorError(f"--image-size {args.image_size} must be a multiple of 32, at least 32", "e.g. 256")
    cfg = AnomalyConfig(data=args.data, out=args.out, backbone=args.backbone, weights=args.weights,
                        image_size=args.image_size, method=args.method, seed=args.seed, target_frr=args.target_frr,
                        coreset_size=args.coreset_size, progress=not args.no_progress)
    summary = train_anomaly(cfg)
    m = summary["metrics"]
    print(f"method {summary['method']} ({summary['method_selection']['rule']}); fit {summary['fit_seconds']} s")
    print(f"threshold {summary['threshold']:.4f} (conformal, target FRR {summary['target_frr']})")
    if m:
        keys = ("image_auroc", "average_precision", "f1", "detection_rate", "false_reject_rate", "pixel_auroc", "aupro")
        print("test: " + json.dumps({k: m.get(k) for k in keys}))
    print(f"run written to {args.out} (report.md, metrics.json); export with: inspector export {args.out} --out model.onnx")
    return 0
