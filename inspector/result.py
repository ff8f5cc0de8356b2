"""The one result type every front end and sink shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Verdict(str, Enum):
    OK = "OK"
    NG = "NG"


def verdict_for(score: float, threshold: float) -> Verdict:
    """NG when the score exceeds the threshold (the convention of every bundle)."""
    return Verdict.NG if score > threshold else Verdict.OK


@dataclass(frozen=True)
class InspectionResult:
    """One inspected image: score, verdict and why (heatmap, class), validated on construction."""

    score: float
    threshold: float
    verdict: Verdict
    model_fingerprint: str
    anomaly_map: np.ndarray | None = None  # float32 [H, W] at the model's input size
    predicted_class: str | None = None
    probs: dict[str, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.score):
            raise ValueError(f"score must be finite, got {self.score}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite, got {self.threshold}")
        if self.verdict is not verdict_for(self.score, self.threshold):
            raise ValueError(f"verdict {self.verdict.value} contradicts score {self.score} vs threshold {self.threshold}")
        if self.anomaly_map is not None and self.anomaly_map.ndim != 2:
            raise ValueError(f"anomaly_map must be 2-D, got shape {self.anomaly_map.shape}")

    @property
    def is_ng(self) -> bool:
        return self.verdict is Verdict.NG
