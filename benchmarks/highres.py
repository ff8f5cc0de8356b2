"""Large frames through tiled bundles: latency, frames per second and peak memory on this machine.

Usage:
  python benchmarks/highres.py                       # trains a tiled model on synthetic 2448x2048 frames
  python benchmarks/highres.py --model aitex.onnx    # an existing bundle, fed frames of its own input size
Each bundle is timed in a fresh process, so its peak RSS (VmHWM) is that of loading and running it alone.
Prints a markdown table (paste into docs/benchmarks.md with the machine and date).
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

FRAME = (2048, 2448)  # height, width of a 5 MP camera frame


def _vm(key: str) -> float:
    """A /proc/self/status figure in MB (VmHWM, the peak RSS, starts afresh at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(model: str, frame: tuple[int, int] | None, repeats: int) -> dict:
    """Run in a child: load, inspect one frame `repeats` times; report latency and peak RSS."""
    import statistics

    import numpy as np

    from inspector.bundle.session import load_bundle
    from inspector.engine import Engine

    rss0 = _vm("VmRSS")
    engine = Engine(load_bundle(model), max_batch=1)
    size = frame or engine.input_size
    image = np.random.default_rng(0).integers(0, 255, (*size, 3), np.uint8)
    engine.inspect([image])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.inspect([image])
        times.append((time.perf_counter() - start) * 1000)
    meta = engine.bundle.metadata
    return {
        "input": list(engine.input_size),
        "frame": list(size),
        "tiles": meta.geometry.get("num_tiles", 1),
        "p50_ms": statistics.median(times),
        "fps": 1000 / statistics.median(times),
        "rss_before_mb": rss0,
        "peak_rss_mb": _vm("VmHWM"),
    }


def _synthetic_bundle(work: Path) -> Path:
    from export.cli import export_run
    from inspector.synthetic import write_dataset
    from training.anomaly import AnomalyConfig, train_anomaly

    data = write_dataset(work / "data", size=FRAME, n_train=6, n_val=3, n_test=2, n_defect=1, seed=0)
    train_anomaly(
        AnomalyConfig(
            data=data,
            out=work / "run",
            method="patchcore",
            tile="256",  # the tiles the rule proposes, without the one view competing: this measures tiles
            coreset_size=1024,
            target_frr=0.2,
            progress=False,
        )
    )
    export_run(work / "run", work / "frame.onnx")
    return work / "frame.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", action="append", default=[], help="bundle(s) to time at their own input size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, frame = json.loads(args.child)
        print(json.dumps(_measure(model, tuple(frame) if frame else None, args.repeats)))
        return
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| bundle | frame | model input | tiles | p50 ms / frame | frames/s | RSS before load MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(m, None) for m in args.model] or [(str(_synthetic_bundle(Path(tmp))), list(FRAME))]
        for model, frame in jobs:
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps([model, frame]), "--repeats", str(args.repeats)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {Path(model).name} | {r['frame'][1]}x{r['frame'][0]} | {r['input'][1]}x{r['input'][0]} | "
                f"{r['tiles']} | {r['p50_ms']:.0f} | {r['fps']:.2f} | {r['rss_before_mb']:.0f} | "
                f"{r['peak_rss_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
