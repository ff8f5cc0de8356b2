"""Metrics of a defect classifier (numpy only, runtime-safe): per-class and good-vs-defect.

`classification_metrics` is what a training report and `inspector batch` write to metrics.json
for a classify bundle. Rows of the confusion matrix are the true class, columns the predicted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inspector.metrics import confusion_at, detection_rate_by_type, jsonable_dict, roc_auc

GOOD = "good"


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def confusion_matrix(labels: Sequence[str], predicted: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """[K, K] counts; rows = true class, columns = predicted class, in `class_names` order."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({x for x in list(labels) + list(predicted) if x not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the class names {list(class_names)}")
    matrix = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    for true, pred in zip(labels, predicted, strict=True):
        matrix[index[true], index[pred]] += 1
    return matrix


def classification_metrics(
    labels: list[str], predicted: list[str], scores: Sequence | np.ndarray, threshold: float, class_names: list[str]
) -> dict:
    """Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix, and the NG decision's
    detection rate, false-reject rate and good-vs-defect AUROC (score = 1 - P(good)).

    Macro-F1 averages the classes that occur in `labels` or `predicted`; values that are undefined
    (no positives) are None. The result is JSON-serialisable.
    """
    labels = [str(x) for x in labels]
    predicted = [str(x) for x in predicted]
    class_names = [str(x) for x in class_names]
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not (len(labels) == len(predicted) == s.size):
        raise ValueError(f"{len(labels)} labels, {len(predicted)} predictions and {s.size} scores differ in length")
    if not labels:
        raise ValueError("no labelled images to compute metrics on")
    matrix = confusion_matrix(labels, predicted, class_names)
    tp = np.diag(matrix).astype(np.float64)
    support, pred_count = matrix.sum(1), matrix.sum(0)
    per_class: dict[str, dict] = {}
    f1s: list[float] = []
    for k, name in enumerate(class_names):
        precision = _ratio(tp[k], pred_count[k])
        recall = _ratio(tp[k], support[k])
        f1 = None
        if support[k] or pred_count[k]:
            f1 = _ratio(2 * tp[k], support[k] + pred_count[k])  # never None here: the denominator is > 0
            if f1 is not None:
                f1s.append(f1)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int(support[k]),
            "predicted": int(pred_count[k]),
        }
    is_defect = np.array([label != GOOD for label in labels])
    conf = confusion_at(is_defect, s, threshold)
    out = {
        "n_images": len(labels),
        "n_good": int((~is_defect).sum()),
        "n_defect": int(is_defect.sum()),
        "accuracy": float(tp.sum() / len(labels)),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
        "class_names": class_names,
        "confusion_matrix": matrix.tolist(),
        "threshold": float(threshold),
        "detection_rate": conf["detection_rate"],
        "false_reject_rate": conf["false_reject_rate"],
        "image_auroc": roc_auc(is_defect, s) if is_defect.any() and (~is_defect).any() else None,
        "counts": {k: conf[k] for k in ("tp", "fp", "tn", "fn")},
        "detection_rate_by_type": detection_rate_by_type(labels, s, threshold),
    }
    return jsonable_dict(out)
