"""Choosing the method by detection at the target false-reject rate, on real or synthetic defects.

Each candidate is judged at its own calibrated threshold. With real validation defects, their
detection rate decides, then their AUROC, then the synthetic defects' (ties only). Without them
(the usual case at a plant), synthetic defects drawn on validation good images decide.
"""

from __future__ import annotations

import numpy as np

from inspector.metrics import roc_auc


def judge(val_scores: np.ndarray, val_defect: np.ndarray, synthetic_scores: np.ndarray, threshold: float) -> dict:
    """Detection and AUROC of one candidate on the real and the synthetic validation defects."""
    good = val_scores[~val_defect]
    row: dict = {"threshold": float(threshold), "val_good_false_reject_rate": float(np.mean(good > threshold))}
    if val_defect.any():
        row["val_detection_rate"] = float(np.mean(val_scores[val_defect] > threshold))
        row["val_auroc"] = roc_auc(val_defect, val_scores)
    if len(synthetic_scores):
        row["synthetic_detection_rate"] = float(np.mean(synthetic_scores > threshold))
        row["synthetic_auroc"] = roc_auc(
            np.r_[np.zeros(len(good), bool), np.ones(len(synthetic_scores), bool)], np.r_[good, synthetic_scores]
        )
    return row


def choose(rows: dict[str, dict]) -> tuple[str, str]:
    """The best candidate's name and the rule that chose it."""
    real = all("val_detection_rate" in row for row in rows.values())

    def key(name: str) -> tuple:
        row = rows[name]
        synthetic = (round(row.get("synthetic_detection_rate", 0.0), 3), round(row.get("synthetic_auroc", 0.0), 4))
        if real:
            return (round(row["val_detection_rate"], 3), round(row["val_auroc"], 4), *synthetic)
        return synthetic

    best = max(sorted(rows), key=key)
    if len(rows) == 1:
        return best, "only candidate"
    if real:
        return (
            best,
            "detection at the calibrated threshold on validation defects, then their AUROC "
            "(synthetic defects break ties)",
        )
    return best, "detection at the calibrated threshold on synthetic defects, then their AUROC (no validation defects)"
