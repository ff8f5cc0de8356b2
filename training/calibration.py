"""Honest calibration: a conformal threshold over as many good scores as the data can give.

With n good calibration scores, a conformal threshold guarantees a false-reject rate of at most
1/(n+1), no better. So the model fits on every good image, training and validation alike, and each
is scored by a model fitted without its fold (cross-conformal, CV+): every good the heads fit on
calibrates the threshold, and so do the goods the memory bound left out of the fit,
scored by the deployed model itself (training.samples). Where even that cannot support the target, the threshold
is shipped for the rate it can support and the warning says how many more images the target needs.
The FRR a fresh good part sees with a conformal threshold is Beta(n+1-k, k) distributed; its mean
and a 90 % interval are reported.
"""

from __future__ import annotations

import math

import numpy as np

from inspector.threshold import conformal_threshold, min_calibration_images

FOLDS = 5


def beta_quantile(q: float, a: int, b: int) -> float:
    """The q-quantile of Beta(a, b) for whole a, b >= 1, exactly: by bisection on its CDF, which for whole
    shapes is a binomial tail, I_x(a, b) = P(Binomial(a + b - 1, x) >= a). (scipy.stats took 1.7 s to import
    for this one call: 3 % of a 60 s fit.)"""
    if a < 1 or b < 1 or not 0.0 <= q <= 1.0:
        raise ValueError(f"beta_quantile needs whole a, b >= 1 and q in [0, 1], got q={q}, a={a}, b={b}")
    if q in (0.0, 1.0):
        return q
    m = a + b - 1
    j = np.arange(a, m + 1)
    log_comb = np.array([math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) for i in j])

    def cdf(x: float) -> float:  # x is strictly inside (0, 1): a midpoint of the bracket
        return float(np.exp(log_comb + j * math.log(x) + (m - j) * math.log1p(-x)).sum())

    low, high = 0.0, 1.0
    for _ in range(100):  # the CDF increases in x: halve the bracket to float precision
        mid = 0.5 * (low + high)
        if cdf(mid) < q:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def fold_indices(n: int, folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """A seeded partition of range(n) into `folds` parts (fewer when n is small)."""
    order = np.random.default_rng(seed).permutation(n)
    return [part for part in np.array_split(order, max(2, min(folds, n))) if part.size]


def calibrate(
    out_of_fold: np.ndarray, val_good: np.ndarray, target_frr: float, held_out: np.ndarray | None = None
) -> dict:
    """The deployed threshold over out-of-fold scores of training and validation good images, and the deployed
    model's scores of any goods it never fitted on (`held_out`: left out by the memory bound), with warnings."""
    held = np.zeros(0) if held_out is None else np.asarray(held_out, float).ravel()
    scores = np.concatenate([np.asarray(out_of_fold, float).ravel(), np.asarray(val_good, float).ravel(), held])
    info = conformal_threshold(scores, target_frr)
    n, k = info["n_calibration"], min(info["k"], info["n_calibration"])
    achievable = 1.0 / (n + 1)
    info.update(
        method="cross-conformal (CV+)",
        n_out_of_fold=len(out_of_fold),
        n_val_good=len(val_good),
        n_held_out=len(held),
        achievable_frr=achievable,
    )
    a, b = n + 1 - k, k
    info["expected_frr"] = a / (n + 1)
    info["expected_frr_interval90"] = [beta_quantile(0.05, a, b), beta_quantile(0.95, a, b)]
    if not info["guaranteed"]:
        need = min_calibration_images(target_frr)
        info["warning"] = (
            f"{n} good images can guarantee a false-reject rate of {100 * achievable:.2g} %; "
            f"add {need - n} more for the {100 * target_frr:.2g} % you asked. "
            f"The threshold shipped is the one for {100 * achievable:.2g} %."
        )
        info.pop("note", None)
    elif info["expected_frr_interval90"][1] > 2 * target_frr:
        more = math.ceil(max(0.0, 10.0 / target_frr - n))
        info["warning"] = (
            f"with {n} good calibration images the false-reject rate may reach "
            f"{100 * info['expected_frr_interval90'][1]:.2g} % (90 % interval) for a "
            f"{100 * target_frr:.2g} % target; about {more} more good images narrow it"
        )
    return info


def highest_good(scores: np.ndarray, images: list[tuple[str, str]], threshold: float, count: int = 5) -> list[dict]:
    """The calibration goods with the highest out-of-fold scores: the images that set the threshold.

    `scores` holds one out-of-fold score per good image (NaN where not scored) and `images` its (path, split).
    A defect labelled good among them raises the threshold for every part, so they are listed for review.
    """
    scored = np.flatnonzero(~np.isnan(scores))
    top = scored[np.argsort(-scores[scored], kind="stable")[:count]]
    return [
        {
            "image": images[i][0],
            "split": images[i][1],
            "score": round(float(scores[i]), 4),
            "at_or_above_threshold": bool(scores[i] >= threshold),
        }
        for i in top
    ]
