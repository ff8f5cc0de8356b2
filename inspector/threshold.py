"""Choosing the deployed NG threshold (a part is NG when ``score > threshold``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from inspector.metrics import confusion_at

MAX_KEPT_SCORES = 256
FAR_FACTOR = 2.0  # without calibration scores: warn when an override is this far from the bundle's threshold


def override_warning(override: float | None, bundle_threshold: float, threshold_method: dict) -> str:
    """A warning ("" when none) for a threshold override outside the bundle's good calibration scores.

    With the scores (bundles exported since they were kept) it gives the share of good calibration
    images the override would reject; without them it compares with the calibrated threshold."""
    if override is None or override == bundle_threshold:
        return ""
    deployed = threshold_method.get("deployed", {}) if isinstance(threshold_method, dict) else {}
    scores = deployed.get("good_scores") if isinstance(deployed, dict) else None
    if isinstance(scores, list) and scores and all(isinstance(v, (int, float)) for v in scores):
        low, high = min(scores), max(scores)
        if low <= override <= high:
            return ""
        share = float(np.mean(np.asarray(scores, dtype=float) > override))
        return (
            f"threshold {override:g} lies outside the good calibration scores [{low:.4g}, {high:.4g}] of the "
            f"bundle (calibrated threshold {bundle_threshold:.4g}): it would reject {share:.0%} of the good "
            "calibration images"
        )
    if bundle_threshold > 0 and not (bundle_threshold / FAR_FACTOR <= override <= bundle_threshold * FAR_FACTOR):
        side = "below" if override < bundle_threshold else "above"
        likely = "nearly every good part NG" if override < bundle_threshold else "defects passing as OK"
        return (
            f"threshold {override:g} is far {side} the bundle's calibrated threshold {bundle_threshold:.4g} "
            f"(expect {likely}); the bundle carries no calibration scores to say how many good parts it rejects"
        )
    return ""


def _scores(values: Sequence | np.ndarray, what: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError(f"{what}: no scores given")
    if np.isnan(s).any():
        raise ValueError(f"{what}: {int(np.isnan(s).sum())} score(s) are NaN")
    return s


def min_calibration_images(target_frr: float) -> int:
    """Fewest good calibration images for which the conformal guarantee holds at ``target_frr``."""
    return max(1, math.ceil(1.0 / target_frr - 1e-9) - 1)


def conformal_threshold(good_scores: Sequence | np.ndarray, target_frr: float) -> dict:
    """Split-conformal threshold: the k-th smallest of n good scores, k = ceil((n+1)(1-target_frr)).

    For exchangeable scores a fresh good part is then rejected with probability <= target_frr.
    When k > n the maximum is used and ``guaranteed`` is False (n is too small for the target).
    """
    try:
        frr = float(target_frr)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"target_frr must be a number in (0, 1), got {target_frr!r}") from exc
    if not 0.0 < frr < 1.0:  # also rejects nan
        raise ValueError(f"target_frr must be in (0, 1), got {target_frr!r}")
    s = np.sort(_scores(good_scores, "good_scores"))
    n = s.size
    # the small tolerance keeps e.g. (n+1)*(1-0.1) = 9.000000000000002 from rounding up to 10
    k = max(1, math.ceil((n + 1) * (1.0 - frr) - 1e-9))
    guaranteed = k <= n
    out: dict = {
        "threshold": float(s[k - 1] if guaranteed else s[-1]),
        "method": "conformal",
        "target_frr": frr,
        "n_calibration": int(n),
        "k": int(k),
        "guaranteed": bool(guaranteed),
        # the good scores (at most MAX_KEPT_SCORES quantiles): runtimes warn about an override with them
        "good_scores": [float(f"{v:.6g}") for v in np.quantile(s, np.linspace(0, 1, min(n, MAX_KEPT_SCORES)))],
    }
    if not guaranteed:
        need = min_calibration_images(frr)
        out["note"] = (
            f"{n} good calibration images are too few for a false-reject rate of {frr:g}: "
            f"at least {need} are needed; the maximum good score is used instead"
        )
    return out


def f1_best_threshold(is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> dict:
    """The midpoint between consecutive distinct scores that maximises F1 (highest on ties)."""
    s = _scores(scores, "scores")
    y = np.asarray(is_defect).astype(bool).ravel()
    if y.shape != s.shape:
        raise ValueError(f"is_defect and scores differ in length: {y.size} vs {s.size}")
    if not y.any():
        raise ValueError("f1_best_threshold needs at least one defect part")
    u = np.unique(s)
    if u.size < 2:
        raise ValueError("all scores are equal: no threshold separates anything")
    mids = u[:-1] / 2.0 + u[1:] / 2.0
    # flagging score > mids[i] flags exactly the scores >= u[i + 1]
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = pos.size - np.searchsorted(pos, u[1:], side="left")
    fp = neg.size - np.searchsorted(neg, u[1:], side="left")
    fn = pos.size - tp
    f1 = 2.0 * tp / np.maximum(2 * tp + fp + fn, 1)
    best = int(np.flatnonzero(f1 == f1.max())[-1])
    conf = confusion_at(y, s, float(mids[best]))
    return {
        "threshold": float(mids[best]),
        "method": "f1_best",
        "f1": conf["f1"],
        "precision": conf["precision"],
        "recall": conf["recall"],
    }


def describe_calibration(deployed: dict) -> tuple[str, bool]:
    """One line for people about how a bundle's deployed threshold was calibrated, and whether it warns."""
    if not deployed:
        return "No calibration record in this bundle.", False
    if deployed.get("warning") or deployed.get("note"):
        return str(deployed.get("warning") or deployed.get("note")), True
    n, target = deployed.get("n_calibration"), deployed.get("target_frr")
    text = (
        f"Calibrated on {n} good images for a false-reject rate of {100 * target:.2g} %"
        if n and target
        else "Calibrated threshold"
    )
    if "expected_frr" in deployed:
        low, high = deployed["expected_frr_interval90"]
        text += f"; expected {100 * deployed['expected_frr']:.2g} % (90 % interval {100 * low:.2g}-{100 * high:.2g} %)"
    return text + ".", False
