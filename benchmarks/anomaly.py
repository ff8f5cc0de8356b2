"""Anomaly model benchmark: fit time, bundle size, onnxruntime vs torch eager latency at batch 1.

Usage: python benchmarks/anomaly.py --data ../shared/datasets/magnetic-tile [--methods padim,patchcore]
Prints a markdown table (paste into docs/benchmarks.md with the machine and date).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from export.cli import export_run
from training.anomaly import AnomalyConfig, train_anomaly
from training.run import load_run


def _latency(fn, x, repeats: int) -> list[float]:
    for _ in range(5):
        fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench(data: Path, method: str, work: Path, repeats: int, image_size: int) -> dict:
    run, bundle = work / f"run_{method}", work / f"{method}.onnx"
    summary = train_anomaly(AnomalyConfig(data=data, out=run, method=method, image_size=image_size, progress=False))
    export_run(run, bundle)
    _, model = load_run(run)
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 2
    session = ort.InferenceSession(str(bundle), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 255, (1, *summary.image_size, 3), np.uint8)
    xt = torch.from_numpy(x)
    torch.set_num_threads(os.cpu_count() or 2)
    # interleave the two so load from elsewhere on the machine hits both alike
    onnx_ms, torch_ms = [], []
    with torch.inference_mode():
        for _ in range(3):
            onnx_ms += _latency(lambda a: session.run(None, {"image": a}), x, repeats // 3)
            torch_ms += _latency(model, xt, repeats // 3)
    return {
        "method": method,
        "auroc": summary.metrics.get("image_auroc"),
        "fit_s": summary.details["fit_seconds"][method],
        "bundle_mb": bundle.stat().st_size / 1e6,
        "onnx_p50": statistics.median(onnx_ms),
        "onnx_p99": float(np.percentile(onnx_ms, 99)),
        "torch_p50": statistics.median(torch_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--methods", default="padim,patchcore")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=150)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"onnxruntime {ort.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| method | test image AUROC | fit s (features + fit) | bundle MB | onnxruntime p50 ms | p99 ms "
        "| torch eager p50 ms | torch / onnxruntime |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            r = bench(args.data, method, Path(tmp), args.repeats, args.image_size)
            print(
                f"| {r['method']} | {r['auroc']:.4f} | {r['fit_s']:.1f} | {r['bundle_mb']:.1f} | {r['onnx_p50']:.1f} "
                f"| {r['onnx_p99']:.1f} | {r['torch_p50']:.1f} | {r['torch_p50'] / r['onnx_p50']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
