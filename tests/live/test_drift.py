"""Drift and SPC (inspector.live.drift): CUSUM and EWMA on good-part scores, Bernoulli CUSUM on the NG and UNSURE
rates. Qt-free, deterministic seeds; the numbers a plant can expect are in docs/verdicts.md#drift
(benchmarks/drift_arl.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.live.drift import DriftMonitor, DriftParams, calibration_baseline, statistic

THRESHOLD = math.exp(2.326)  # ln(score) ~ N(0, 1) for good parts: 1 % of them above the threshold
DETECT_1SD = 60  # parts: a +1 sd shift raises an alarm within this many (median ~20, benchmarks/drift_arl.py)
DETECT_2SD = 35


def calibrated(seed: int) -> DriftMonitor:
    rng = np.random.default_rng(seed)
    quantiles = np.quantile(np.exp(rng.normal(0.0, 1.0, 400)), np.linspace(0, 1, 256)).tolist()
    monitor = DriftMonitor()
    monitor.rebase({"deployed": {"good_scores": quantiles, "expected_frr": 0.01}}, THRESHOLD, "model-a")
    return monitor


def feed(monitor: DriftMonitor, log_scores: np.ndarray, camera: str = "cam") -> int | None:
    """Parts fed until the first alarm (1-based), None when none."""
    first = None
    for i, x in enumerate(log_scores, start=1):
        score = float(np.exp(x))
        monitor.record(camera, "NG" if score > THRESHOLD else "OK", score)
        if first is None and monitor.alarms():
            first = i
    return first


def test_no_alarm_in_2000_in_control_parts() -> None:
    monitor = calibrated(1)
    assert feed(monitor, np.random.default_rng(2).normal(0.0, 1.0, 2000)) is None
    state = monitor.state()["cam"]
    assert state.parts == 2000 and state.alarms == () and state.alarms_raised == {}
    assert state.score is not None and state.score.baseline.startswith("calibration (n=")
    assert state.ng_rate is not None and state.ng_rate.ready and 0.005 < state.ng_rate.center < 0.02


@pytest.mark.parametrize(("shift", "within"), [(1.0, DETECT_1SD), (2.0, DETECT_2SD), (-1.0, DETECT_1SD)])
def test_cusum_alarms_within_n_parts_of_a_score_shift(shift: float, within: int) -> None:
    rng = np.random.default_rng(3)
    monitor = calibrated(1)
    assert feed(monitor, rng.normal(0.0, 1.0, 600)) is None
    first = feed(monitor, rng.normal(shift, 1.0, 500))
    assert first is not None and first <= within, first
    expected = "drift_cam_score_up" if shift > 0 else "drift_cam_score_down"
    assert expected in monitor.alarms()


def test_the_alarm_clears_when_the_process_is_back_and_counts_one_raise() -> None:
    rng = np.random.default_rng(4)
    monitor = calibrated(1)
    feed(monitor, rng.normal(0.0, 1.0, 600))
    feed(monitor, rng.normal(2.0, 1.0, 100))
    assert "drift_cam_score_up" in monitor.alarms()
    feed(monitor, rng.normal(0.0, 1.0, 300))
    assert "drift_cam_score_up" not in monitor.alarms()
    assert monitor.state()["cam"].alarms_raised.get("drift_cam_score_up") == 1


def test_ng_rate_cusum_alarms_when_ng_rises_and_scores_do_not() -> None:
    rng = np.random.default_rng(5)
    monitor = calibrated(1)
    for _ in range(1000):  # 1 % NG
        monitor.record("cam", "NG" if rng.random() < 0.01 else "OK", float(np.exp(min(rng.normal(), 2.0))))
    assert monitor.alarms() == []
    for _ in range(600):  # a defect wave: 10 % NG
        monitor.record("cam", "NG" if rng.random() < 0.10 else "OK", float(np.exp(min(rng.normal(), 2.0))))
    assert monitor.alarms() == ["drift_cam_ng_rate"]


def test_unsure_rate_and_cameras_are_separate() -> None:
    monitor = calibrated(1)
    rng = np.random.default_rng(6)
    for i in range(1500):
        unsure = i >= 600 and rng.random() < 0.2  # cam B's lens gets dirty
        monitor.record("A", "OK", float(np.exp(rng.normal())))
        monitor.record("B", "UNSURE" if unsure else "OK", float(np.exp(rng.normal())))
    assert monitor.alarms() == ["drift_B_unsure_rate"]


def test_without_calibration_scores_the_first_parts_are_the_baseline() -> None:
    params = DriftParams(warmup=200)
    monitor = DriftMonitor(params)
    monitor.rebase({"method": "fixed"}, 0.3, "old-bundle")
    rng = np.random.default_rng(7)
    for _ in range(199):
        monitor.record("cam", "OK", 0.3 * float(np.exp(rng.normal(-1.0, 0.2))))
    state = monitor.state()["cam"].score
    assert state is not None and not state.ready and state.baseline == "warm-up (199/200)"
    for _ in range(800):
        monitor.record("cam", "OK", 0.3 * float(np.exp(rng.normal(-1.0, 0.2))))
    assert monitor.alarms() == [] and monitor.state()["cam"].score.baseline == "warm-up (n=200)"
    for _ in range(60):
        monitor.record("cam", "OK", 0.3 * float(np.exp(rng.normal(-0.6, 0.2))))  # +2 sd
    assert "drift_cam_score_up" in monitor.alarms()


def test_a_new_model_or_threshold_starts_over() -> None:
    monitor = calibrated(1)
    feed(monitor, np.random.default_rng(8).normal(2.0, 1.0, 700))
    assert monitor.alarms()
    monitor.rebase({}, THRESHOLD, "model-b")
    assert monitor.alarms() == [] and monitor.state() == {}


def test_baseline_and_statistic() -> None:
    assert statistic(0.0, 0.5) == pytest.approx(math.log(1e-3)) and statistic(0.5, 0.5) == 0.0
    assert calibration_baseline({"deployed": {"good_scores": [0.1] * 5}}, 1.0) is None  # too few
    base = calibration_baseline({"deployed": {"good_scores": [0.1, 0.2, 0.4, 2.0] * 10}}, 1.0)
    assert base is not None and base.source == "calibration (n=30)"  # 2.0 is above the threshold: left out
    assert base.mean == pytest.approx(np.mean(np.log([0.1, 0.2, 0.4])))
