"""`inspector export RUN --out model.onnx`: one self-checked ONNX file plus its SHA-256 sidecar.

The options are the fields of `ExportConfig` (training.options); the run is read as a `RunSummary`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from inspector.bundle.schema import PRECISIONS
from training.options import option


@dataclass
class ExportConfig:
    run: Path = option("the run folder written by `inspector train`", positional=True)
    out: Path = option("bundle file to write (.onnx)")
    data: Path | None = option("dataset for the parity check (default: the one the run was trained on)", None)
    precision: str = option(
        "fp32 (default); fp16 (for GPUs) or int8 (static QDQ, for CPUs), checked against fp32",
        "fp32",
        choices=PRECISIONS,
    )
    calib: Path | None = option(
        "int8: folder of good images to calibrate on (default: the run's training good images)", None
    )
    keep: bool = option("write a reduced-precision bundle even when image AUROC drops by more than 0.005", False)
    sign: Path | None = option(
        "sign the bundle with this ed25519 private key (NAME.key of `inspector keys new`): "
        "writes OUT.sig beside it (docs/signing.md)",
        None,
    )

    def __post_init__(self) -> None:
        from inspector.errors import InspectorError

        if self.precision not in PRECISIONS:
            raise InspectorError(f"--precision {self.precision!r} is unknown", f"use one of {', '.join(PRECISIONS)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training.options import add_options

    add_options(parser, ExportConfig)


def _parity_images(summary, data: Path | None) -> list:
    from inspector.data.dataset import load_dataset
    from inspector.errors import InspectorError
    from training.images import load_samples

    root = Path(data or summary.data)
    if not root.exists():
        raise InspectorError(
            f"the parity check needs the run's test images, but {root} is not there",
            "pass --data DIR with the dataset the run was trained on",
        )
    dataset = load_dataset(root, seed=summary.seed, require_good=summary.role != "typer")
    samples = dataset.select(split="test") or dataset.select(split="val")
    images, _ = load_samples(samples, summary.image_size, policy=summary.resize)
    return images


def export(cfg: ExportConfig) -> str:
    """Build, check, write and verify the bundle; returns the parity (and precision) description."""
    if cfg.sign is not None:
        from dataclasses import replace

        from inspector.signing import key_id, load_private_key, sign_bundle

        key = load_private_key(cfg.sign)  # a bad key is refused before the long export
        description = export(replace(cfg, sign=None))
        path = sign_bundle(cfg.out, key)
        return f"{description}\nsigned with key {key_id(key.public_key())}: wrote {path.name}"
    from export.bundle_writer import build_bundle
    from inspector.bundle.write import save_bundle
    from inspector.errors import InspectorError
    from training.run_summary import load_summary

    summary = load_summary(cfg.run)
    if summary.task == "classify":
        from export.classify_export import export_classify_run

        if cfg.precision != "fp32":
            raise InspectorError(
                f"--precision {cfg.precision} is not available for classify runs yet",
                "export classify runs with the default --precision fp32",
            )
        return export_classify_run(cfg.run, cfg.out, _parity_images(summary, cfg.data))
    from export.parity import check_parity
    from training.run import load_run

    summary, model = load_run(cfg.run)
    bundle = build_bundle(summary, model)
    report = check_parity(model, bundle.SerializeToString(), _parity_images(summary, cfg.data), summary.threshold)
    if not report.ok:
        raise InspectorError(
            f"export failed its parity check: {report.describe()}", "report this run; nothing was written"
        )
    description = report.describe()
    if cfg.precision != "fp32":
        from export.quantize import reduce_precision

        bundle, change = reduce_precision(bundle, summary, cfg.precision, calib=cfg.calib, data=cfg.data, keep=cfg.keep)
        description += "\n" + change
    save_bundle(bundle, cfg.out)
    return description


def export_run(run: Path, out: Path, data: Path | None = None, **options) -> str:
    """`export` with the config's fields as arguments (precision, calib, keep)."""
    return export(ExportConfig(run=Path(run), out=Path(out), data=data, **options))


def run(args: argparse.Namespace) -> int:
    from training.options import config_from_args

    cfg = config_from_args(ExportConfig, args)
    description = export(cfg)
    size = cfg.out.stat().st_size / 1e6
    print(description)
    print(f"wrote {cfg.out} ({size:.1f} MB) and {cfg.out.name}.sha256")
    return 0
