"""Shadow mode's cost to production (inspector.live.shadow): grab-to-verdict latency with and without a candidate
running beside production, in one run, in interleaved rounds (off, on, off, on, ...) so load from other jobs on
the box falls on both alike.

One synthetic camera at --fps into a real pipeline on --model (default assets/demo.onnx); the candidate is the
same bundle at another threshold (so it disagrees on some parts), on its own engine with one onnxruntime thread
and the shadow thread niced (--nice). The first --settle seconds of each round are not counted.

    .venv/bin/python benchmarks/shadow.py [--model M] [--fps 10] [--rounds 8] [--round-seconds 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.live.config import CameraConfig
from inspector.live.pipeline import Pipeline
from inspector.live.record import FrameRecord
from inspector.live.shadow import Shadow
from inspector.live.sinks.base import Sink

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo.onnx"


class Latencies(Sink):
    """Each record's grab-to-verdict latency, under the mode of the round it came in."""

    kind = "latencies"

    def __init__(self) -> None:
        super().__init__(queue_size=100_000)
        self.mode: str | None = None
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {"off": [], "on": []}

    def write(self, record: FrameRecord) -> None:
        with self.lock:
            if self.mode is not None:
                self.samples[self.mode].append(record.timings_ms["total"])


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEMO)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=256, help="camera frame size (px)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds in all, half with the shadow")
    parser.add_argument("--round-seconds", type=float, default=6.0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="production's onnxruntime threads")
    args = parser.parse_args()

    production = Engine(load_bundle(args.model, threads=args.threads))
    candidate = Engine(load_bundle(args.model, threads=1), threshold=float(production.threshold) * 0.8)
    camera = CameraConfig(
        id="cam",
        kind="synthetic",
        source={"fps": args.fps, "size": args.size, "seed": 1, "ng_rate": 0.3},
        max_fps=args.fps,
        reject_repeats=False,
    )
    sink = Latencies()
    pipeline = Pipeline(production, [camera], [sink], station="bench", max_batch=1)
    with tempfile.TemporaryDirectory() as folder:
        shadow = Shadow(candidate, Path(folder) / "shadow", nice=args.nice)
        shadow.start()
        pipeline.start()
        time.sleep(3.0)  # warm-up
        load0 = os.getloadavg()[0]
        for i in range(args.rounds):
            mode = "on" if i % 2 else "off"
            sink.mode = None
            pipeline.shadow = shadow if mode == "on" else None
            time.sleep(args.settle)
            sink.mode = mode
            time.sleep(args.round_seconds)
        sink.mode = None
        pipeline.stop(5.0)
        shadow.stop(5.0)
        snap = shadow.snapshot()
    off, on = sink.samples["off"], sink.samples["on"]
    print(
        f"model {args.model.name}, camera {args.size} px at {args.fps:g} FPS, {args.rounds} rounds of "
        f"{args.round_seconds:g} s interleaved, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}, "
        f"{os.cpu_count()} CPUs"
    )
    print("| shadow | frames | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for name, values in (("off", off), ("on", on)):
        print(
            f"| {name} | {len(values)} | {p(values, 50):.1f} | {p(values, 99):.1f} | "
            f"{statistics.fmean(values) if values else float('nan'):.1f} |"
        )
    print(
        f"p99 on / off = {p(on, 99) / p(off, 99):.3f} (target <= 1.10); candidate compared {snap.compared}, "
        f"skipped {snap.skipped}, disagreed {snap.disagreements}, errors {snap.errors}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
