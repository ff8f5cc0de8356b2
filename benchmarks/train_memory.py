"""Training on large parts: peak memory and wall clock of `inspector train` as the training set grows.

Usage:
  python benchmarks/train_memory.py                          # 100 and 300 parts of 1024x1024 (25 tiles each)
  python benchmarks/train_memory.py --parts 100 --parts 300 --parts 600
  python benchmarks/train_memory.py --parts 300 --size 2048x2448      # camera frames (30 tiles at 0.53x)
  python benchmarks/train_memory.py --parts 100 --val-defects 300    # many validation defects to judge on
Each size gets a synthetic dataset (a textured surface with a ring; defects are dark spots of 12-28 px; 40
validation goods and `--val-defects` validation defects, 40 + 40 test images) and one `inspector train` in a
fresh process, whose peak RSS comes from the kernel (the child's own ru_maxrss, by wait4), and the good images
its threshold is calibrated on (of them, those the bound left out of the fit). Prints a markdown
table (paste into docs/benchmarks.md with the machine and date).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def write_parts(root: Path, size: tuple[int, int], n_train: int, val_defects: int = 0, seed: int = 0) -> Path:
    """A split.csv dataset of grey parts of `size` (H, W): n_train train goods, 40 val goods and `val_defects`
    val defects, 40 + 40 test."""
    h, w = size
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    rows = ["image,label,split,mask"]
    for split, goods, defects in (("train", n_train, 0), ("val", 40, val_defects), ("test", 40, 40)):
        for i in range(goods + defects):
            low = rng.normal(128, 20, (h // 16, w // 16)).astype(np.float32)
            image = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 6, (h, w))
            cv2.circle(image, (w // 2, h // 2), min(h, w) // 3, 200, 12)
            name, mask_name = f"images/{split}_{i}.png", ""
            if i >= goods:
                mask = np.zeros((h, w), np.uint8)
                centre = (int(rng.integers(40, w - 40)), int(rng.integers(40, h - 40)))
                cv2.circle(mask, centre, int(rng.integers(6, 14)), 255, -1)
                image[mask > 0] -= 70
                mask_name = f"masks/{split}_{i}.png"
                cv2.imwrite(str(root / mask_name), mask)
            cv2.imwrite(str(root / name), np.clip(image, 0, 255).astype(np.uint8))
            rows.append(f"{name},{'spot' if i >= goods else 'good'},{split},{mask_name}")
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    return root


def train_once(data: Path, out: Path) -> dict:
    """One `inspector train` in a fresh process: wall clock, peak RSS, and what the run says."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "inspector", "train", "--data", str(data), "--out", str(out), "--no-progress"]
    log = out.with_suffix(".log")
    with log.open("w") as sink:
        child = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: its peak RSS alone
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"inspector train failed on {data} (log {log}):\n{log.read_text()[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return {
        "wall_s": wall,
        "peak_gb": usage.ru_maxrss / 1e6,  # KB
        "counts": run["counts"],
        "tiles": run["geometry"].get("num_tiles", 1),
        "method": run["method"],
        "auroc": run["metrics"].get("image_auroc"),
        "deployed": run["thresholds"]["deployed"],
        "run": run,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, action="append", help="training goods (repeatable; default 100, 300)")
    parser.add_argument("--size", default="1024x1024", help="part size HxW in pixels (default 1024x1024)")
    parser.add_argument("--val-defects", type=int, default=0, help="validation defects (default 0)")
    parser.add_argument("--work", type=Path, help="folder for the datasets and runs (default: a temporary one)")
    args = parser.parse_args()
    sizes = args.parts or [100, 300]
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if len(size) != 2:
        raise SystemExit(f"--size {args.size!r}: give HxW, e.g. 1024x1024")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        results = []
        for n in sizes:
            data = write_parts(work / f"parts{n}", size, n, args.val_defects)
            results.append((n, train_once(data, work / f"run{n}")))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    print()
    print(
        "| training goods | part | tiles | goods fitted (train + val) | val defects judged | method | wall | peak RSS "
        "| image AUROC | calibration goods (not fitted) | threshold |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, r in results:
        counts = r["counts"]
        print(
            f"| {n} | {size[0]}x{size[1]} | {r['tiles']} | {counts.get('fit_train_good', n)} + "
            f"{counts['fit_good'] - counts.get('fit_train_good', n)} | "
            f"{counts.get('val_judged', counts['val']) - 40} of {args.val_defects} | {r['method']} | "
            f"{r['wall_s']:.0f} s | "
            f"{r['peak_gb']:.1f} GB | {r['auroc']:.3f} | {r['deployed']['n_calibration']} "
            f"({r['deployed'].get('n_held_out', 0)}) | {r['deployed']['threshold']:.4f} |"
        )


if __name__ == "__main__":
    main()
