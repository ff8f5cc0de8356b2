"""Tests for inspector.metrics against hand-computed cases and brute-force references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inspector import metrics
from inspector.metrics import (
    anomaly_metrics,
    aupro,
    aupro_thresholds,
    average_precision,
    confusion_at,
    detection_rate_by_type,
    pixel_auroc,
    pr_curve,
    roc_auc,
    roc_curve,
)


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y][:, None], s[~y][None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def _brute_ap(y: np.ndarray, s: np.ndarray) -> float:
    ap, prev_recall = 0.0, 0.0
    for t in np.unique(s)[::-1]:
        flagged = s >= t
        tp = (flagged & y).sum()
        precision, recall = tp / flagged.sum(), tp / y.sum()
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return float(ap)


@pytest.mark.parametrize(
    "y, s, expected",
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),  # perfect separation
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),  # reversed
        ([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], 0.5),  # all tied
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),  # sklearn docs example
        ([0, 1, 0, 1], [1, 1, 2, 2], 0.5),
        ([0, 0, 1], [1, 2, 2], 0.75),  # one tie across classes counts half
    ],
)
def test_roc_auc_known(y: list, s: list, expected: float) -> None:
    assert roc_auc(y, s) == pytest.approx(expected)


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1]])
def test_roc_auc_one_class_is_nan(y: list) -> None:
    assert math.isnan(roc_auc(y, np.arange(len(y))))
    assert math.isnan(roc_curve(y, np.arange(len(y)))[0 if y[0] else 1][0])


@pytest.mark.parametrize(
    "y, s, exc",
    [
        ([], [], ValueError),
        ([0, 1], [0.1], ValueError),
        ([0, 1], [0.1, float("nan")], ValueError),
    ],
)
def test_bad_inputs_raise(y: list, s: list, exc: type[Exception]) -> None:
    for fn in (roc_auc, average_precision, roc_curve, pr_curve):
        with pytest.raises(exc):
            fn(y, s)
    with pytest.raises(exc):
        confusion_at(y, s, 0.5)


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_and_ap_match_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.3
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes many ties
    assert roc_auc(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(_brute_ap(y, s), abs=1e-12)


@pytest.mark.parametrize(
    "y, s, expected",
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.8333333333333333),  # sklearn docs example
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], 0.25),
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),  # one tied step: precision 2/4
    ],
)
def test_average_precision_known(y: list, s: list, expected: float) -> None:
    assert average_precision(y, s) == pytest.approx(expected)


def test_average_precision_no_defect_is_nan() -> None:
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_roc_curve_points_and_threshold_convention() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [0.8, 0.4, 0.35, 0.1, -np.inf])
    for f, t, th in zip(fpr, tpr, thr, strict=True):  # every point is what confusion_at gives at its threshold
        c = confusion_at(y, s, th)
        assert (c["false_reject_rate"], c["recall"]) == pytest.approx((f, t))
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def test_pr_curve_points() -> None:
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    precision, recall, thr = pr_curve(y, s)
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [0.4, 0.35, 0.1, -np.inf])
    c = confusion_at(y, s, thr[2])
    assert (c["precision"], c["recall"]) == pytest.approx((precision[2], recall[2]))


@pytest.mark.parametrize(
    "threshold, tp, fp, tn, fn, precision, recall, f1, frr",
    [
        (0.5, 2, 1, 2, 1, 2 / 3, 2 / 3, 2 / 3, 1 / 3),
        (0.6, 1, 1, 2, 2, 0.5, 1 / 3, 0.4, 1 / 3),  # 0.6 itself is not NG: score > threshold
        (1.0, 0, 0, 3, 3, math.nan, 0.0, 0.0, 0.0),
        (0.0, 3, 3, 0, 0, 0.5, 1.0, 2 / 3, 1.0),
    ],
)
def test_confusion_at(threshold, tp, fp, tn, fn, precision, recall, f1, frr) -> None:
    y = [1, 1, 1, 0, 0, 0]
    s = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1]
    c = confusion_at(y, s, threshold)
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (tp, fp, tn, fn)
    got = [c["precision"], c["recall"], c["f1"], c["false_reject_rate"]]
    assert got == pytest.approx([precision, recall, f1, frr], nan_ok=True)
    assert c["detection_rate"] == c["recall"]


def test_detection_rate_by_type() -> None:
    labels = ["good", "scratch", "scratch", "spot", "crack", "crack", "crack"]
    scores = [0.9, 0.8, 0.2, 0.7, 0.6, 0.4, 0.51]
    out = detection_rate_by_type(labels, scores, 0.5)
    assert out == {
        "crack": {"count": 3, "detected": 2, "rate": pytest.approx(2 / 3)},
        "scratch": {"count": 2, "detected": 1, "rate": 0.5},
        "spot": {"count": 1, "detected": 1, "rate": 1.0},
    }


def _square_mask(h: int = 16, w: int = 16, box: tuple = (4, 8, 4, 8)) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[box[0] : box[1], box[2] : box[3]] = True
    return m


def test_pixel_auroc_matches_roc_auc_and_subsamples(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    masks = [_square_mask(), np.zeros((16, 16), bool), _square_mask(box=(0, 3, 0, 16))]
    maps = [rng.random((16, 16)) + m for m in masks]
    full = pixel_auroc(masks, maps)
    expected = roc_auc(np.concatenate([m.ravel() for m in masks]), np.concatenate([a.ravel() for a in maps]))
    assert full == pytest.approx(expected, abs=1e-6)
    monkeypatch.setattr(metrics, "MAX_PIXELS", 300)  # 768 pixels -> stride 3
    sub = pixel_auroc(masks, maps)
    ys = np.concatenate([m.ravel() for m in masks])[::3]
    ss = np.concatenate([a.ravel() for a in maps])[::3]
    assert sub == pytest.approx(roc_auc(ys, ss.astype(np.float32)), abs=1e-9)


@pytest.mark.parametrize(
    "masks, maps, exc",
    [
        ([np.zeros((4, 4), bool)], [np.zeros((4, 5))], ValueError),
        ([np.zeros((4, 4), bool)], [], ValueError),
        ([], [], ValueError),
        ([np.zeros((2, 2), bool)], [np.full((2, 2), np.nan)], ValueError),
    ],
)
def test_pixel_metrics_reject_bad_inputs(masks: list, maps: list, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        pixel_auroc(masks, maps)
    with pytest.raises(exc):
        aupro(masks, maps)


def _brute_aupro(masks, maps, fpr_limit=0.3, steps=200) -> float:
    """Direct per-threshold loop following the MVTec AD definition."""
    allv = np.concatenate([a.ravel() for a in maps])
    regions = []
    for i, m in enumerate(masks):
        import cv2

        n, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
        regions += [(i, lab == r) for r in range(1, n)]
    good = np.concatenate([(~m).ravel() for m in masks])
    fprs, pros = [0.0], [0.0]
    for t in aupro_thresholds(allv[good].astype(np.float64), fpr_limit, steps)[::-1]:
        fprs.append(float((allv[good] >= t).mean()))
        pros.append(float(np.mean([(maps[i][r] >= t).mean() for i, r in regions])))
    x, y = np.array(fprs), np.array(pros)
    xi = np.concatenate((x[x <= fpr_limit], [fpr_limit]))
    yi = np.interp(xi, x, y)  # x is sorted; exact for the trapezoid up to the limit
    return float(np.trapezoid(yi, xi) / fpr_limit)


def test_aupro_known_values() -> None:
    big = _square_mask(32, 32, (2, 12, 2, 12))  # 100 px region
    small = _square_mask(32, 32, (20, 22, 20, 22))  # 4 px region
    mask = big | small
    perfect = mask.astype(float)
    assert aupro([mask], [perfect]) == pytest.approx(1.0)
    assert aupro([mask], [1.0 - perfect]) == pytest.approx(0.0)
    # the big region found, the small one not: PRO 0.5 at FPR 0 (pixel-wise recall would be 0.96)
    half = big.astype(float)
    # curve (0,0) -> (0,0.5) -> (1,1): at FPR 0.3, PRO 0.65; area 0.3*(0.5+0.65)/2, over 0.3
    assert aupro([mask], [half]) == pytest.approx(0.575)


def test_aupro_good_images_only_add_false_positives() -> None:
    mask = _square_mask()
    amap = mask.astype(float)
    good_mask = np.zeros((16, 16), bool)
    assert aupro([mask, good_mask], [amap, np.zeros((16, 16))]) == pytest.approx(1.0)
    # a good image scoring as high as the defect everywhere: every good pixel of it is a false positive
    assert aupro([mask, good_mask], [amap, np.ones((16, 16))]) < 0.7


@pytest.mark.parametrize("seed", range(3))
def test_aupro_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = [
        _square_mask(24, 24, (2, 9, 3, 8)) | _square_mask(24, 24, (15, 17, 15, 23)),
        np.zeros((24, 24), bool),
        _square_mask(24, 24, (10, 20, 1, 4)),
    ]
    maps = [rng.random((24, 24)) + 0.8 * m * rng.random() for m in masks]
    for limit in (0.05, 0.3, 1.0):
        assert aupro(masks, maps, fpr_limit=limit, steps=50) == pytest.approx(
            _brute_aupro(masks, [a.astype(np.float32) for a in maps], limit, 50), abs=1e-9
        )


def test_aupro_nan_without_regions() -> None:
    assert math.isnan(aupro([np.zeros((4, 4), bool)], [np.random.default_rng(0).random((4, 4))]))


def _example():
    labels = ["good", "good", "good", "scratch", "spot", "spot"]
    scores = [0.1, 0.2, 0.6, 0.9, 0.7, 0.3]
    return labels, scores


def test_anomaly_metrics_image_level_json() -> None:
    labels, scores = _example()
    m = anomaly_metrics(labels, scores, threshold=0.5)
    json.dumps(m, allow_nan=False)
    assert m["n_good"] == 3 and m["n_defect"] == 3
    assert m["counts"] == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert m["image_auroc"] == pytest.approx(roc_auc([0, 0, 0, 1, 1, 1], scores))
    assert m["false_reject_rate"] == pytest.approx(1 / 3)
    assert m["detection_rate_by_type"]["spot"] == {"count": 2, "detected": 1, "rate": 0.5}
    assert "pixel_auroc" not in m and "aupro" not in m


def test_anomaly_metrics_nan_becomes_none() -> None:
    m = anomaly_metrics(["good", "good"], [0.1, 0.2], threshold=0.5)
    assert m["image_auroc"] is None and m["average_precision"] is None and m["detection_rate"] is None
    json.dumps(m, allow_nan=False)


def test_anomaly_metrics_pixel_level_with_missing_entries() -> None:
    labels, scores = _example()
    mask = _square_mask()
    masks = [None, np.zeros((16, 16), bool), None, mask, None, mask]  # spot #1 has no mask file
    maps = [np.zeros((16, 16)), None, np.zeros((16, 16)), mask * 1.0, np.ones((16, 16)), mask * 0.5]
    m = anomaly_metrics(labels, scores, 0.5, masks=masks, maps=maps)
    json.dumps(m, allow_nan=False)
    assert m["pixel_auroc"] == pytest.approx(1.0)
    assert m["aupro"] == pytest.approx(1.0)
    assert m["n_pixel_images"] == 4  # two goods (one mask-less) + two defects with masks


def test_anomaly_metrics_no_defect_masks_means_no_pixel_metrics() -> None:
    labels, scores = _example()
    masks = [None] * 6
    maps = [np.zeros((4, 4))] * 6
    m = anomaly_metrics(labels, scores, 0.5, masks=masks, maps=maps)
    assert "pixel_auroc" not in m


def test_anomaly_metrics_length_mismatch() -> None:
    labels, scores = _example()
    with pytest.raises(ValueError):
        anomaly_metrics(labels, scores[:-1], 0.5)
    with pytest.raises(ValueError):
        anomaly_metrics(labels, scores, 0.5, masks=[None], maps=[None])


def test_aupro_is_not_coarsened_by_an_outlier() -> None:
    rng = np.random.default_rng(0)
    masks = [_square_mask(64, 64, (10, 20, 10, 20)) for _ in range(4)]
    maps = [m * 5.0 + rng.random((64, 64)) for m in masks]
    reference = aupro(masks, maps)
    maps[0][0, 0] = 1e5  # one hot pixel on a good area, far above everything else
    assert reference > 0.95 and aupro(masks, maps) == pytest.approx(reference, abs=0.01)
