"""Per-frame cost of the verdict gates (inspector.verdict) at a model input size, beside the frame's inference.

    python benchmarks/gates.py [--size 256] [--frames 200] [--rounds 5]

The gates run on every frame after inference: `measure` (brightness, clipping, focus on the model's input
view), `ood_statistic` (median of the anomaly map) and `Gates.decide`. Timed together over synthetic
parts, median of rounds; printed as a table with the per-frame budget (1 ms).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from inspector.synthetic import make_part
from inspector.verdict import Gates, measure, ood_statistic

BUDGET_MS = 1.0
GATES = {
    "brightness": [80.0, 190.0],
    "max_clipped": 0.05,
    "min_focus": 2.0,
    "max_ood": 40.0,
    "frame": {"min_size": [48, 48], "aspect": [0.8, 1.25]},
}


def per_frame_ms(step, items: list, rounds: int) -> float:
    """Median over rounds of the mean time per item, in ms."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            step(item)
        samples.append((time.perf_counter() - start) * 1000 / len(items))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    size = (args.size, args.size)
    views = [make_part(rng, size=size).image for _ in range(min(args.frames, 20))] * (args.frames // 20 or 1)
    maps = [rng.random(size, dtype=np.float32) * 30 for _ in range(len(views))]
    gates = Gates.from_bundle(GATES, size)
    pairs = list(zip(views, maps, strict=True))

    def all_gates(pair: tuple[np.ndarray, np.ndarray]) -> None:
        view, amap = pair
        gates.decide(25.0, 30.0, measure(view), ood_statistic(amap), size)

    rows = [
        ("measure (brightness, clipping, focus)", per_frame_ms(measure, views, args.rounds)),
        ("ood_statistic (map median)", per_frame_ms(ood_statistic, maps, args.rounds)),
        ("all gates + decide", per_frame_ms(all_gates, pairs, args.rounds)),
    ]
    print(f"gates per frame at {args.size}x{args.size}, {len(views)} frames, median of {args.rounds} rounds")
    print(f"| {'step':40s} | {'ms / frame':>10s} | {'budget':>8s} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 10}|")
    for name, ms in rows:
        print(f"| {name:40s} | {ms:10.3f} | {'ok' if ms <= BUDGET_MS else 'OVER':>8s} |")


if __name__ == "__main__":
    main()
