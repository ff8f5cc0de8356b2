"""Drift charts' run lengths (inspector.live.drift), deterministic seeds: in-control false alarms per 1,000
parts and the delay to the first alarm after a shift of the good-part scores by +1 and +2 sd (and of the NG
rate from 1 % to 2 %).

Synthetic station: ln(score) of a good part ~ N(0, 1); threshold at the 99th percentile (z = 2.326), so 1 % of
good parts are NG; the bundle's calibration is 256 quantiles of 400 good scores, as `inspector train` keeps.
A shift moves every part's ln(score) by delta sd; parts above the threshold become NG (as on a line).

    .venv/bin/python benchmarks/drift_arl.py [--runs 200]
"""

from __future__ import annotations

import argparse
import math
import statistics

import numpy as np

from inspector.live.drift import DriftMonitor, DriftParams

THRESHOLD = math.exp(2.326)
WARM = 600  # in-control parts before a shift (past the rate warm-up)


def new_monitor(rng: np.random.Generator, params: DriftParams) -> DriftMonitor:
    calibration = np.exp(rng.normal(0.0, 1.0, 400))
    quantiles = np.quantile(calibration, np.linspace(0, 1, 256)).tolist()
    monitor = DriftMonitor(params)
    monitor.rebase({"deployed": {"good_scores": quantiles, "expected_frr": 0.01}}, THRESHOLD, "synthetic")
    return monitor


def feed(monitor: DriftMonitor, scores: np.ndarray, stat: str | None = None) -> int | None:
    """Parts fed until the first alarm (of `stat`, or any) is raised; None when none is."""
    for i, score in enumerate(scores, start=1):
        monitor.record("cam", "NG" if score > THRESHOLD else "OK", float(score))
        alarms = monitor.alarms()
        if (stat is None and alarms) or (stat is not None and f"drift_cam_{stat}" in alarms):
            return i
    return None


def in_control(runs: int, parts: int, params: DriftParams) -> tuple[float, dict[str, int]]:
    raised: dict[str, int] = {}
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        monitor = new_monitor(rng, params)
        feed(monitor, np.exp(rng.normal(0.0, 1.0, parts)), stat="never")
        for name, n in monitor.state()["cam"].alarms_raised.items():
            stat = name.removeprefix("drift_cam_")
            raised[stat] = raised.get(stat, 0) + n
    return 1000.0 * sum(raised.values()) / (runs * parts), raised


def delay(runs: int, shift: float, params: DriftParams, ng_only: bool = False) -> tuple[float, float, int]:
    """Median and 90th percentile of the parts to the first alarm after the shift, and runs never alarmed."""
    delays, missed = [], 0
    for seed in range(runs):
        rng = np.random.default_rng(10_000 + seed)
        monitor = new_monitor(rng, params)
        if feed(monitor, np.exp(rng.normal(0.0, 1.0, WARM)), stat="never"):
            continue
        if ng_only:  # the NG rate doubles, the good parts' scores do not move
            n = 20_000
            good = rng.normal(0.0, 1.0, 2 * n)
            scores = np.exp(good[good <= math.log(THRESHOLD)][:n])  # good parts as they were, all OK
            scores[rng.random(n) < 0.02] = 2 * THRESHOLD  # 2 % NG instead of 1 %
        else:
            scores = np.exp(rng.normal(shift, 1.0, 2000))
        first = feed(monitor, scores)
        if first is None:
            missed += 1
        else:
            delays.append(first)
    if not delays:
        return math.nan, math.nan, missed
    return statistics.median(delays), float(np.percentile(delays, 90)), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--parts", type=int, default=5000, help="in-control parts per run")
    args = parser.parse_args()
    params = DriftParams()
    print(f"params: {params}")
    rate, raised = in_control(args.runs, args.parts, params)
    print(f"\nin control: {args.runs} runs x {args.parts} parts (seeds 0..{args.runs - 1})")
    print(f"| false alarms per 1,000 parts | {rate:.3f} | by chart: {raised or 'none'} |")
    print("\n| shift | median parts to alarm | 90th percentile | runs without alarm in 2,000 (20,000 for NG) |")
    print("|---|---|---|---|")
    for shift in (1.0, 2.0, -1.0):
        med, p90, missed = delay(args.runs, shift, params)
        print(f"| score {shift:+g} sd | {med:g} | {p90:g} | {missed} |")
    med, p90, missed = delay(args.runs, 0.0, params, ng_only=True)
    print(f"| NG rate 1 % -> 2 % | {med:g} | {p90:g} | {missed} |")


if __name__ == "__main__":
    main()
