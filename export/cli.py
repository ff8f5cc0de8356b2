"""`inspector export RUN --out model.onnx`: one self-checked ONNX file plus its SHA-256 sidecar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="the run folder written by `inspector train`")
    parser.add_argument("--out", type=Path, required=True, help="bundle file to write (.onnx)")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset for the parity check (default: the one the run was trained on)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                        help="fp32 (default); fp16 (for GPUs) or int8 (static QDQ, for CPUs), checked against fp32")
    parser.add_argument("--calib", type=Path, default=None,
                        help="int8: folder of good images to calibrate on (default: the run's training good images)")
    parser.add_argument("--keep", action="store_true",
                        help="write a reduced-precision bundle even when image AUROC drops by more than 0.005")


def _parity_images(summary: dict, data: Path | None) -> list:
    from inspector.data.dataset import load_dataset
    from inspector.errors import InspectorError
    from training.geometry import resize_policy
    from training.images import load_samples

    root = Path(data or summary["data"])
    if not root.exists():
        raise InspectorError(f"the parity check needs the run's test images, but {root} is not there",
                             "pass --data DIR with the dataset the run was trained on")
    dataset = load_dataset(root, seed=summary["seed"])
    samples = dataset.select(split="test") or dataset.select(split="val")
    images, _ = load_samples(samples, tuple(summary["image_size"]), policy=resize_policy(summary))
    return images


def _task(run: Path) -> str | None:
    """The run's task from run.json (None when unreadable: load_run then names the problem)."""
    try:
        return json.loads((Path(run) / "run.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None


def export_run(run: Path, out: Path, data: Path | None = None, *, precision: str = "fp32",
               calib: Path | None = None, keep: bool = False) -> str:
    """Build, check, write and verify the bundle; returns the parity (and precision) description."""
    from export.bundle_writer import build_bundle, write_bundle
    from export.parity import check_parity
    from inspector.errors import InspectorError
    from training.run import load_run

    if _task(run) == "classify":
        from export.classify_export import export_classify_run

        if precision != "fp32":
            raise InspectorError(f"--precision {precision} is not available for classify runs yet",
                                 "export classify runs with the default --precision fp32")
        summary = json.loads((Path(run) / "run.json").read_text())
        return export_classify_run(run, out, _parity_images(summary, data))
    summary, model = load_run(run)
    bundle = build_bundle(summary, model)
    data_bytes = bundle.SerializeToString()
    report = check_parity(model, data_bytes, _parity_images(summary, data), summary["threshold"])
    if not report.ok:
        raise InspectorError(f"export failed its parity check: {report.describe()}", "report this run; nothing was written")
    description = report.describe()
    if precision != "fp32":
        from export.quantize import reduce_precision

        bundle, change = reduce_precision(bundle, summary, precision, calib=calib, data=data, keep=keep)
        description += "\n" + change
    write_bundle(bundle, out)
    return description


def run(args: argparse.Namespace) -> int:
    description = export_run(args.run, args.out, args.data, precision=args.precision, calib=args.calib, keep=args.keep)
    size = args.out.stat().st_size / 1e6
    print(description)
    print(f"wrote {args.out} ({size:.1f} MB) and {args.out.name}.sha256")
    return 0
