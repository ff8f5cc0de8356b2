"""Test helpers: a real DriftMonitor calibrated on synthetic scores, fed until it alarms, behind a pipeline view."""

from __future__ import annotations

import math

import numpy as np

from inspector.live.drift import DriftMonitor
from inspector.live.snapshot import PipelineSnapshot

THRESHOLD = math.exp(2.326)  # ln(score) ~ N(0, 1) for good parts (as in test_drift.py)


def calibrated() -> DriftMonitor:
    rng = np.random.default_rng(1)
    quantiles = np.quantile(np.exp(rng.normal(0.0, 1.0, 400)), np.linspace(0, 1, 256)).tolist()
    monitor = DriftMonitor()
    monitor.rebase({"deployed": {"good_scores": quantiles, "expected_frr": 0.01}}, THRESHOLD, "model-a")
    return monitor


def feed(monitor: DriftMonitor, shift: float, n: int, seed: int, camera: str = "cam0") -> None:
    for x in np.random.default_rng(seed).normal(shift, 1.0, n):
        score = float(np.exp(x))
        monitor.record(camera, "NG" if score > THRESHOLD else "OK", score)


class DriftingPipeline:
    """A pipeline as the sinks' context sees it, whose snapshot carries a real DriftMonitor's charts."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor
        self.cameras = {"cam0": None}

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot(drift=self.monitor.state())

    def ready(self) -> bool:
        return True

    def trigger(self, camera: str | None = None) -> list[str]:
        return []
