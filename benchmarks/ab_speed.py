"""A/B speed of bundles (and the run's torch eager model) on a shared, loaded CPU: alternate call by call.

Usage: python benchmarks/ab_speed.py --model fp32.onnx --model int8.onnx [--against RUN] [--batch 1,8] [--calls 60]
`inspector benchmark` times each configuration for seconds at a time; when other jobs come and go that
favours whichever ran in a quiet moment. Here the configurations take turns call by call, and each is
timed two ways: wall ms with the default threads (what a station sees), and on-CPU ms with one intra-op
thread (`time.thread_time` of the calling thread, which runs the kernels: time spent preempted by other
jobs does not count). Ratios are against the first model. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inspector.bundle.session import load_bundle


def _calls(args: argparse.Namespace, images: np.ndarray) -> dict[str, tuple[Callable, Callable]]:
    """name -> (call at default threads, call with one thread), per batch size filled in by the caller."""
    out: dict[str, tuple[Callable, Callable]] = {}
    for path in args.model:
        wide, one = load_bundle(path, threads=args.threads), load_bundle(path, threads=1)
        names = list(wide.output_names)
        out[path.name] = (
            lambda x, s=wide.session, n=names: s.run(n, {"image": x}),
            lambda x, s=one.session, n=names: s.run(n, {"image": x}),
        )
    if args.against is not None:
        import torch

        from training.run import load_run

        _, model = load_run(args.against)

        def eager(x: np.ndarray, threads: int) -> None:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    model(torch.from_numpy(x))
            finally:
                torch.set_num_threads(previous)

        wide_threads = args.threads or os.cpu_count() or 2
        out[f"{args.against.name} (torch eager)"] = (lambda x: eager(x, wide_threads), lambda x: eager(x, 1))
    return out


def measure(args: argparse.Namespace) -> list[dict]:
    size = load_bundle(args.model[0]).input_size
    batches = [int(b) for b in args.batch.split(",")]
    images = np.random.default_rng(0).integers(0, 256, (max(batches), *size, 3), np.uint8)
    calls = _calls(args, images)
    rows = []
    for batch in batches:
        x = images[:batch]
        wall: dict[str, list[float]] = {k: [] for k in calls}
        cpu: dict[str, list[float]] = {k: [] for k in calls}
        for wide, one in calls.values():
            wide(x), one(x)  # warm-up
        for _ in range(args.calls):
            for name, (wide, one) in calls.items():
                start = time.perf_counter()
                wide(x)
                wall[name].append((time.perf_counter() - start) * 1000 / batch)
                start = time.thread_time()
                one(x)
                cpu[name].append((time.thread_time() - start) * 1000 / batch)
        for name in calls:
            rows.append(
                {
                    "name": name,
                    "batch": batch,
                    "wall": statistics.median(wall[name]),
                    "cpu": statistics.median(cpu[name]),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--against", type=Path, default=None, metavar="RUN", help="also the run's torch eager model")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--calls", type=int, default=60, help="calls per configuration and batch size")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of the wall-clock runs")
    args = parser.parse_args()
    print(
        f"# {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f} "
        f"before; {args.calls} alternating calls per configuration"
    )
    rows = measure(args)
    print(f"# load average {os.getloadavg()[0]:.1f} after")
    print("| configuration | batch | wall ms/img (default threads) | speed-up | on-CPU ms/img (1 thread) | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        base = next(b for b in rows if b["batch"] == r["batch"])
        print(
            f"| {r['name']} | {r['batch']} | {r['wall']:.2f} | {base['wall'] / r['wall']:.2f}x "
            f"| {r['cpu']:.2f} | {base['cpu'] / r['cpu']:.2f}x |"
        )


if __name__ == "__main__":
    main()
