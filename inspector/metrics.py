"""Image- and pixel-level anomaly-detection metrics (numpy + cv2 only).

Convention everywhere: a higher score means more anomalous, and a part is flagged NG when
``score > threshold``. ``is_defect`` is a boolean (or 0/1) array, True for defective parts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

MAX_PIXELS = 20_000_000
"""pixel_auroc subsamples with a uniform stride above this many pixels."""


def _check(is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(is_defect).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"is_defect and scores differ in length: {y.size} vs {s.size}")
    if s.size == 0:
        raise ValueError("no scores given")
    if np.isnan(s).any():
        raise ValueError(f"{int(np.isnan(s).sum())} score(s) are NaN")
    return y, s


def _tie_groups(s_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of runs of equal values in a sorted array."""
    cuts = np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1
    return np.concatenate(([0], cuts)), np.concatenate((cuts, [s_sorted.size]))


def roc_auc(is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counting one half); nan if one class.

    Exact: each defect's score is placed among the sorted good scores (a plain sort and a binary
    search, several times faster than ranking all scores on millions of pixels).
    """
    y, s = _check(is_defect, scores)
    good, defect = np.sort(s[~y]), np.sort(s[y])
    if good.size == 0 or defect.size == 0:
        return float("nan")
    below = np.searchsorted(good, defect, side="left")
    not_above = np.searchsorted(good, defect, side="right")
    wins = 2 * int(below.sum()) + int((not_above - below).sum())  # twice U, in integers
    return wins / (2.0 * defect.size * good.size)


def _counts_desc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores descending, and cumulative tp, fp when flagging every score >= each."""
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    _, ends = _tie_groups(ss)
    last = ends - 1
    tps = np.cumsum(yy)[last]
    fps = (last + 1) - tps
    return ss[last], tps.astype(np.int64), fps.astype(np.int64)


def roc_curve(
    is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), starting at (0, 0); point i flags ``score > thresholds[i]``.

    thresholds are the distinct scores descending followed by -inf (the point that flags all).
    fpr (tpr) is nan throughout when there are no good (defect) parts.
    """
    y, s = _check(is_defect, scores)
    distinct, tps, fps = _counts_desc(y, s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    tps = np.concatenate(([0], tps)).astype(np.float64)
    fps = np.concatenate(([0], fps)).astype(np.float64)
    tpr = tps / n_pos if n_pos else np.full_like(tps, np.nan)
    fpr = fps / n_neg if n_neg else np.full_like(fps, np.nan)
    return fpr, tpr, np.concatenate((distinct, [-np.inf]))


def pr_curve(
    is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) by decreasing threshold; point i flags ``score > thresholds[i]``.

    One point per distinct score (thresholds: the next lower distinct score, -inf for the last);
    no artificial (recall 0, precision 1) point is added.
    """
    y, s = _check(is_defect, scores)
    distinct, tps, fps = _counts_desc(y, s)
    n_pos = int(y.sum())
    precision = tps / (tps + fps)
    recall = tps / n_pos if n_pos else np.full(tps.shape, np.nan)
    return precision, recall, np.concatenate((distinct[1:], [-np.inf]))


def average_precision(is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> float:
    """sklearn's AP: sum over thresholds of (R_n - R_{n-1}) * P_n; nan without defects."""
    y, _ = _check(is_defect, scores)
    if not y.any():
        return float("nan")
    precision, recall, _ = pr_curve(is_defect, scores)
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else float("nan")


def confusion_at(is_defect: Sequence | np.ndarray, scores: Sequence | np.ndarray, threshold: float) -> dict:
    """Counts and rates at ``threshold`` (NG = score > threshold); undefined rates are nan."""
    y, s = _check(is_defect, scores)
    ng = s > threshold
    tp, fp = int((ng & y).sum()), int((ng & ~y).sum())
    fn, tn = int((~ng & y).sum()), int((~ng & ~y).sum())
    recall = _ratio(tp, tp + fn)
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "detection_rate": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "false_reject_rate": _ratio(fp, fp + tn),
    }


def detection_rate_by_type(labels: Sequence[str], scores: Sequence | np.ndarray, threshold: float) -> dict[str, dict]:
    """Per defect label (everything but "good"): count, detected (score > threshold), rate."""
    labels = [str(x) for x in labels]
    _, s = _check(np.zeros(len(labels), bool), scores)
    out: dict[str, dict] = {}
    for name in sorted(set(labels) - {"good"}):
        sel = np.array([lab == name for lab in labels])
        detected = int((s[sel] > threshold).sum())
        out[name] = {"count": int(sel.sum()), "detected": detected, "rate": detected / int(sel.sum())}
    return out


OPERATING_FRRS = (0.01, 0.001)


def threshold_at_frr(good_scores: Sequence | np.ndarray, frr: float) -> float:
    """The lowest threshold whose observed false-reject rate on these good scores is at most `frr`."""
    g = np.sort(np.asarray(good_scores, dtype=np.float64).ravel())
    if g.size == 0:
        return float("nan")
    return float(g[max(0, math.ceil((1.0 - frr) * g.size - 1e-9) - 1)])


def operating_points(
    labels: Sequence[str], scores: Sequence | np.ndarray, deployed: float, frrs: Sequence[float] = OPERATING_FRRS
) -> dict[str, dict]:
    """Detection and false-reject rate, overall and per defect type, at the deployed threshold and at
    the thresholds that give each observed FRR in `frrs` on these labelled images: what the line sees."""
    labels = [str(x) for x in labels]
    _, s = _check(np.zeros(len(labels), bool), scores)
    y = np.array([lab != "good" for lab in labels])
    points = {"deployed": float(deployed)}
    points.update({f"frr_{100 * f:g}%": threshold_at_frr(s[~y], f) for f in frrs})
    out = {}
    for name, threshold in points.items():
        conf = confusion_at(y, s, threshold) if y.any() and (~y).any() else {}
        out[name] = {
            "threshold": threshold,
            "detection_rate": conf.get("detection_rate"),
            "false_reject_rate": conf.get("false_reject_rate"),
            "detection_rate_by_type": detection_rate_by_type(labels, s, threshold) if y.any() else {},
        }
    return out


LEADING_KEYS = (
    "operating_points",
    "image_auroc",
    "threshold",
    "detection_rate",
    "false_reject_rate",
    "detection_rate_by_type",
)
"""What metrics.json and reports show first: what the line sees, beside AUROC."""


def operating_first(metrics: dict, labels: Sequence[str], scores: Sequence | np.ndarray, deployed: float) -> dict:
    """`metrics` (from anomaly_metrics) with `operating_points` added and LEADING_KEYS first, JSON-safe:
    the detection rate at the deployed threshold and at observed FRR 1 % / 0.1 %, per defect type, then AUROC."""
    merged = {**metrics, "operating_points": operating_points(labels, scores, deployed)}
    lead = {k: merged[k] for k in LEADING_KEYS if k in merged}
    return jsonable_dict({**lead, **{k: v for k, v in merged.items() if k not in lead}})


def _check_pairs(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(masks) != len(maps):
        raise ValueError(f"{len(masks)} masks but {len(maps)} maps")
    if not masks:
        raise ValueError("no masks/maps given")
    pairs = []
    for i, (m, a) in enumerate(zip(masks, maps, strict=True)):
        m, a = np.asarray(m).astype(bool), np.asarray(a, dtype=np.float32)
        if m.shape != a.shape:
            raise ValueError(f"image {i}: mask shape {m.shape} differs from map shape {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"image {i}: anomaly map contains NaN")
        pairs.append((m, a))
    return pairs


def pixel_auroc(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> float:
    """ROC AUC over all pixels (uniform stride subsampling above MAX_PIXELS); nan if one class."""
    pairs = _check_pairs(masks, maps)
    total = sum(m.size for m, _ in pairs)
    stride = max(1, math.ceil(total / MAX_PIXELS))
    ys, ss, offset = [], [], 0
    for m, a in pairs:
        start = (-offset) % stride  # keep global indices 0, stride, 2*stride, ...
        ys.append(m.ravel()[start::stride])
        ss.append(a.ravel()[start::stride])
        offset += m.size
    return roc_auc(np.concatenate(ys), np.concatenate(ss))


def _trapezoid_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under (x, y) (x non-decreasing) from x[0] to x_max, interpolating at x_max."""
    keep = x <= x_max
    xs, ys = x[keep], y[keep]
    nxt = int(keep.sum())
    if nxt < x.size and x[nxt] > xs[-1]:
        y_at = ys[-1] + (x_max - xs[-1]) * (y[nxt] - ys[-1]) / (x[nxt] - xs[-1])
        xs, ys = np.append(xs, x_max), np.append(ys, y_at)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2.0))


def aupro_thresholds(good_scores: np.ndarray, fpr_limit: float, steps: int) -> np.ndarray:
    """Ascending thresholds: quantiles of the good pixels from FPR just past ``fpr_limit`` down to 0,
    plus one just above the highest good score (the FPR = 0 point)."""
    levels = np.linspace(1.0 - min(1.0, fpr_limit * 1.05), 1.0, steps)
    top = np.nextafter(good_scores.max(), np.inf)
    return np.unique(np.concatenate((np.quantile(good_scores, levels), [top])))


def aupro(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], fpr_limit: float = 0.3, steps: int = 200) -> float:
    """Normalised area under the per-region-overlap curve up to ``fpr_limit`` (MVTec AD).

    ``steps`` thresholds are quantiles of the good pixels' scores spanning FPR 0 to ``fpr_limit``
    (so outliers in the maps do not coarsen the curve); a pixel is positive when its score is >= the
    threshold. Regions are 8-connected components of the masks; PRO is the mean over
    all regions of the covered fraction; FPR is over all pixels outside the masks. nan if there
    are no regions or no good pixels.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    pairs = _check_pairs(masks, maps)
    good = np.concatenate([a[~m].ravel() for m, a in pairs]).astype(np.float64)
    if good.size == 0:
        return float("nan")
    if good.size > MAX_PIXELS:
        good = good[:: good.size // MAX_PIXELS + 1]
    # thresholds spaced in FPR (quantiles of the good pixels) so the curve is fine where it is integrated,
    # whatever the outliers in the maps
    thresholds = aupro_thresholds(good, fpr_limit, steps)
    steps = thresholds.size
    good_hist = np.zeros(steps)
    pro_hist = np.zeros(steps)
    n_regions = 0
    for m, a in pairs:
        b = np.searchsorted(thresholds, a.ravel(), side="right") - 1  # a >= thresholds[j] for j <= b
        mf = m.ravel()
        counted = b >= 0  # below the lowest threshold: never positive within the integrated range
        good_hist += np.bincount(b[~mf & counted], minlength=steps)
        if mf.any():
            n, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
            lab = lab.ravel()[mf]
            area = np.bincount(lab, minlength=n).astype(np.float64)
            inside = counted[mf]
            pro_hist += np.bincount(b[mf][inside], weights=1.0 / area[lab][inside], minlength=steps)
            n_regions += n - 1
    n_good = float(sum((~m).sum() for m, _ in pairs))
    if n_regions == 0 or n_good == 0:
        return float("nan")
    # counts at or above each threshold, highest threshold first
    fpr = np.cumsum(good_hist[::-1]) / n_good
    pro = np.cumsum(pro_hist[::-1]) / n_regions
    fpr = np.concatenate(([0.0], fpr))
    pro = np.concatenate(([0.0], np.minimum(pro, 1.0)))
    return _trapezoid_to(fpr, pro, fpr_limit) / fpr_limit


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


def jsonable_dict(value: Mapping[Any, object]) -> dict[str, Any]:
    """A metrics mapping made JSON-safe (`_jsonable`), typed as the dict it is."""
    return {str(k): _jsonable(v) for k, v in value.items()}


def anomaly_metrics(
    labels: Sequence[str],
    scores: Sequence | np.ndarray,
    threshold: float,
    masks: Sequence[np.ndarray | None] | None = None,
    maps: Sequence[np.ndarray | None] | None = None,
) -> dict:
    """Everything a report needs at the deployed threshold, JSON-serialisable (nan -> None).

    pixel_auroc and aupro are present only when masks and maps are given and at least one
    defect image has both; a good image without a mask counts as an all-False mask, a defect
    image without a mask (or any image without a map) is left out of the pixel metrics.
    """
    labels = [str(x) for x in labels]
    y, s = _check(np.array([lab != "good" for lab in labels], bool), scores)
    conf = confusion_at(y, s, threshold)
    out: dict = {
        "threshold": float(threshold),
        "n_good": int((~y).sum()),
        "n_defect": int(y.sum()),
        "image_auroc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "f1": conf["f1"],
        "precision": conf["precision"],
        "detection_rate": conf["detection_rate"],
        "false_reject_rate": conf["false_reject_rate"],
        "counts": {k: conf[k] for k in ("tp", "fp", "tn", "fn")},
        "detection_rate_by_type": detection_rate_by_type(labels, s, threshold),
    }
    if masks is not None and maps is not None:
        if len(masks) != len(labels) or len(maps) != len(labels):
            raise ValueError(f"{len(labels)} labels but {len(masks)} masks and {len(maps)} maps")
        pm, pa, n_defect_px = [], [], 0
        for lab, m, a in zip(labels, masks, maps, strict=True):
            if a is None or (m is None and lab != "good"):
                continue
            a = np.asarray(a, dtype=np.float32)
            pm.append(np.zeros(a.shape, bool) if m is None else np.asarray(m).astype(bool))
            pa.append(a)
            n_defect_px += lab != "good"
        if n_defect_px:
            out["pixel_auroc"] = pixel_auroc(pm, pa)
            out["aupro"] = aupro(pm, pa)
            out["n_pixel_images"] = len(pm)
    return jsonable_dict(out)
