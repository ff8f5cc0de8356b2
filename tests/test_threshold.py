"""Tests for threshold selection."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from inspector.metrics import confusion_at
from inspector.threshold import conformal_threshold, f1_best_threshold, min_calibration_images


@pytest.mark.parametrize(
    "n, frr, k, guaranteed, expected",
    [
        (99, 0.01, 99, True, "max"),
        (9, 0.1, 9, True, "max"),
        (19, 0.1, 18, True, 18),
        (100, 0.1, 91, True, 91),
        (50, 0.1, 46, True, 46),
        (5, 0.01, 6, False, "max"),
        (1, 0.5, 1, True, 1),
        (3, 0.999, 1, True, 1),
    ],
)
def test_conformal_k(n: int, frr: float, k: int, guaranteed: bool, expected) -> None:
    scores = np.random.default_rng(n).permutation(np.arange(1, n + 1, dtype=float))  # k-th smallest = k
    out = conformal_threshold(scores, frr)
    assert out["k"] == k and out["guaranteed"] is guaranteed
    assert out["threshold"] == (n if expected == "max" else expected)
    assert out["method"] == "conformal" and out["n_calibration"] == n and out["target_frr"] == frr
    assert ("note" in out) is (not guaranteed)


def test_conformal_note_names_required_count() -> None:
    out = conformal_threshold([0.1, 0.2, 0.3], 0.01)
    assert out["guaranteed"] is False
    assert "99" in out["note"]  # ceil(1/0.01) - 1


@pytest.mark.parametrize("frr, need", [(0.01, 99), (0.1, 9), (0.05, 19), (0.03, 33), (0.5, 1), (0.9, 1)])
def test_min_calibration_images(frr: float, need: int) -> None:
    assert min_calibration_images(frr) == need
    assert conformal_threshold(np.arange(need, dtype=float), frr)["guaranteed"] is True
    if need > 1:
        assert conformal_threshold(np.arange(need - 1, dtype=float), frr)["guaranteed"] is False


@pytest.mark.parametrize(
    "scores, frr, match",
    [
        ([], 0.1, "no scores"),
        ([0.1, float("nan")], 0.1, "NaN"),
        ([0.1, 0.2], 0.0, r"\(0, 1\)"),
        ([0.1, 0.2], 1.0, r"\(0, 1\)"),
        ([0.1, 0.2], -0.5, r"\(0, 1\)"),
        ([0.1, 0.2], float("nan"), r"\(0, 1\)"),
        ([0.1, 0.2], "a lot", r"\(0, 1\)"),
    ],
)
def test_conformal_rejects_bad_input(scores: list, frr, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        conformal_threshold(scores, frr)


@pytest.mark.parametrize("n, frr", [(99, 0.1), (50, 0.1), (200, 0.02), (30, 0.05)])
def test_conformal_empirical_frr_close_to_and_not_above_target(n: int, frr: float) -> None:
    rng = np.random.default_rng(n)
    trials, fresh = 400, 2000
    calib = rng.gamma(2.0, 1.0, size=(trials, n))
    new = rng.gamma(2.0, 1.0, size=(trials, fresh))
    rates = np.array([(new[i] > conformal_threshold(calib[i], frr)["threshold"]).mean() for i in range(trials)])
    k = math.ceil((n + 1) * (1 - frr) - 1e-9)
    exact = (n + 1 - k) / (n + 1)  # the expected FRR of the k-th order statistic
    assert exact <= frr
    assert rates.mean() <= frr + 0.005
    assert rates.mean() == pytest.approx(exact, abs=0.006)


def test_f1_best_threshold_picks_midpoint() -> None:
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    out = f1_best_threshold(y, s)
    assert out == {"threshold": pytest.approx(0.5), "method": "f1_best", "f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_f1_best_threshold_overlap() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    out = f1_best_threshold(y, s)
    # candidates: >0.15 f1 6/8, >0.25 f1 6/7, >0.35 f1 4/6, >0.45 f1 4/5, >0.55 f1 2/4
    assert out["threshold"] == pytest.approx(0.25)
    assert out["f1"] == pytest.approx(6 / 7)
    c = confusion_at(y, s, out["threshold"])
    assert (c["precision"], c["recall"]) == pytest.approx((out["precision"], out["recall"]))


def test_f1_best_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + 1.2 * y, 1)
    out = f1_best_threshold(y, s)
    u = np.unique(s)
    best = max(confusion_at(y, s, (a + b) / 2)["f1"] for a, b in pairwise(u))
    assert out["f1"] == pytest.approx(best)


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([], [], "no scores"),
        ([0, 1], [0.1], "differ in length"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([0, 0], [0.1, 0.2], "at least one defect"),
        ([0, 1], [0.3, 0.3], "all scores are equal"),
    ],
)
def test_f1_best_rejects_bad_input(y: list, s: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        f1_best_threshold(y, s)
