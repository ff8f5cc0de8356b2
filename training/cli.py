"""`inspector train`: argument parsing only; torch is imported when the verb runs."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (split.csv, MVTec layout or class folders)")
    parser.add_argument("--task", choices=["anomaly", "classify"], default="anomaly",
                        help="anomaly: learn good parts only; classify: learn every labelled class")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--backbone", default="tf_efficientnet_lite0", help="timm model name")
    parser.add_argument("--weights", default=None, help="local weights file (safetensors) for the backbone")
    parser.add_argument("--image-size", default=None,
                        help="anomaly: a base side N (the geometry keeps the images' aspect ratio at about N*N pixels, "
                             "default 256) or an exact HxW; classify: the square side (default 224)")
    parser.add_argument("--tile", default=None,
                        help="anomaly tiling: auto (default: tile when one view would shrink parts more than 2x), "
                             "none, or a tile side / HxW")
    parser.add_argument("--method", choices=["auto", "patchcore", "padim"], default="auto",
                        help="auto: best validation AUROC where validation defects exist, else patchcore")
    parser.add_argument("--target-frr", type=float, default=0.01, help="target false-reject rate for the threshold")
    parser.add_argument("--coreset-size", type=int, default=2048, help="PatchCore memory bank size (upper bound)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    group = parser.add_argument_group("classify (--task classify)")
    group.add_argument("--arch", default="tf_efficientnet_lite0",
                       help="timm CNN (CAM maps), a timm ViT (e.g. vit_tiny_patch16_224, from scratch unless "
                            "--weights), or CNN+attention (e.g. tf_efficientnet_lite0+attention: a Transformer "
                            "over the pretrained CNN's patch features)")
    group.add_argument("--epochs", type=int, default=10)
    group.add_argument("--batch-size", type=int, default=32, help="global batch size (split across processes)")
    group.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate (cosine, warm-up 1 epoch)")
    group.add_argument("--patience", type=int, default=4, help="early stopping: epochs without val macro-F1 gain")
    group.add_argument("--balance", choices=["sampler", "loss", "none"], default="sampler",
                       help="class imbalance: weighted sampling or weighted loss (square-root inverse frequency)")
    group.add_argument("--freeze-stages", type=int, default=2,
                       help="freeze the pretrained CNN's stem and first N feature stages (0: train all)")
    group.add_argument("--augment", default=None,
                       help="default, none, or a JSON file (augmentation knobs or an albumentations A.to_dict)")
    group.add_argument("--no-flip", action="store_true", help="no flips (parts with a handedness)")
    group.add_argument("--no-rot90", action="store_true", help="no 90-degree rotations (parts with an orientation)")
    group.add_argument("--label-smoothing", type=float, default=0.1)
    group.add_argument("--resume", type=Path, default=None,
                       help="continue from a run folder or its checkpoint.safetensors (pickle files are refused)")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from inspector.errors import InspectorError
    from training.anomaly import AnomalyConfig, train_anomaly

    if not 0 < args.target_frr < 1:
        raise InspectorError(f"--target-frr {args.target_frr} must be between 0 and 1", "e.g. --target-frr 0.01")
    from training.geometry import parse_size

    size = parse_size(args.image_size, "--image-size")
    if args.tile not in (None, "auto", "none"):
        parse_size(args.tile, "--tile")
    if args.task == "classify":
        if isinstance(size, tuple):
            raise InspectorError("--task classify takes a square --image-size N", "e.g. --image-size 224")
        args.image_size = 224 if size is None else size
        return _run_classify(args)
    args.image_size = 256 if size is None else size
    cfg = AnomalyConfig(data=args.data, out=args.out, backbone=args.backbone, weights=args.weights,
                        image_size=args.image_size, tile=args.tile, method=args.method, seed=args.seed, target_frr=args.target_frr,
                        coreset_size=args.coreset_size, progress=not args.no_progress)
    summary = train_anomaly(cfg)
    m = summary["metrics"]
    print(f"method {summary['method']} ({summary['method_selection']['rule']}); fit {summary['fit_seconds']} s")
    print(f"geometry {summary['geometry']['reason']}")
    deployed = summary["thresholds"]["deployed"]
    low, high = deployed["expected_frr_interval90"]
    print(f"threshold {summary['threshold']:.4f} ({deployed['method']} over {deployed['n_calibration']} good images, "
          f"target FRR {summary['target_frr']}; expected FRR {deployed['expected_frr']:.4f}, 90 % interval "
          f"{low:.4f}-{high:.4f})")
    if summary.get("calibration_warning"):
        print(f"WARNING: {summary['calibration_warning']}")
    if m:
        points = m.get("operating_points", {})
        print("test at the deployed threshold and at observed FRR 1 % / 0.1 %: " + json.dumps(
            {name: {"detection": p["detection_rate"], "frr": p["false_reject_rate"]} for name, p in points.items()}))
        keys = ("image_auroc", "average_precision", "f1", "pixel_auroc", "aupro")
        print("test: " + json.dumps({k: m.get(k) for k in keys}))
    print(f"run written to {args.out} (report.md, metrics.json); export with: inspector export {args.out} --out model.onnx")
    return 0


def _run_classify(args: argparse.Namespace) -> int:
    from inspector.errors import InspectorError
    from training.classify import ClassifyConfig, train_classify

    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise InspectorError(f"--{name.replace('_', '-')} must be at least 1", "e.g. --epochs 10 --batch-size 32")
    cfg = ClassifyConfig(data=args.data, out=args.out, arch=args.arch, weights=args.weights, image_size=args.image_size,
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                         balance=args.balance, freeze_stages=args.freeze_stages, augment=args.augment,
                         flips=not args.no_flip, rot90=not args.no_rot90, label_smoothing=args.label_smoothing,
                         target_frr=args.target_frr, seed=args.seed, resume=args.resume, progress=not args.no_progress)
    summary = train_classify(cfg)
    if summary is None:  # a non-zero DDP rank: rank 0 reports
        return 0
    m = summary["metrics"]
    print(f"{summary['method']} {summary['backbone']}: best epoch {summary['best_epoch']} of {summary['epochs_run']}; "
          f"training {summary['train_seconds']} s on {summary['world_size']} process(es)")
    print(f"threshold {summary['threshold']:.4f} (conformal on 1 - P(good), target FRR {summary['target_frr']})")
    if m:
        keys = ("accuracy", "macro_f1", "image_auroc", "detection_rate", "false_reject_rate")
        print("test: " + json.dumps({k: m.get(k) for k in keys}))
    print(f"run written to {args.out} (report.md, metrics.json); export with: inspector export {args.out} --out model.onnx")
    return 0
