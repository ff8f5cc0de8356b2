"""Rebuild the bundled demo model: `python scripts/make_demo.py` (writes assets/demo.onnx + sidecar).

Trains the project's own anomaly model on synthetic parts from inspector.synthetic (the same
generator the tests and the synthetic camera line use), then exports it through `inspector export`.
A script, not part of `training`, so training never imports export.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from export.cli import export_run
from inspector.synthetic import write_dataset
from training.anomaly import train_anomaly
from training.config import AnomalyConfig
from training.run_summary import RunSummary

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_SIZE = 128


def build_demo(out: Path, *, seed: int = 0, work: Path | None = None) -> RunSummary:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(work or tmp)
        data = write_dataset(
            root / "data", size=(DEMO_SIZE, DEMO_SIZE), n_train=60, n_val=60, n_test=30, n_defect=10, seed=seed
        )
        cfg = AnomalyConfig(
            data=data,
            out=root / "run",
            image_size=DEMO_SIZE,
            method="patchcore",
            seed=seed,
            coreset_size=1024,
            target_frr=0.02,
            progress=False,
        )
        summary = train_anomaly(cfg)
        print(export_run(root / "run", out))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ASSETS / "demo.onnx")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary = build_demo(args.out, seed=args.seed)
    print(f"demo bundle {args.out}: test AUROC {summary.metrics['image_auroc']}")


if __name__ == "__main__":
    main()
