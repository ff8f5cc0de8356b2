"""The one result type every front end and sink shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from inspector.verdict import Reason, Verdict

__all__ = ["InspectionResult", "Reason", "Verdict", "verdict_for"]


def verdict_for(score: float, threshold: float) -> Verdict:
    """NG when the score exceeds the threshold (the convention of every bundle); the gates (inspector.verdict)
    may make a judged frame UNSURE instead."""
    return Verdict.NG if score > threshold else Verdict.OK


@dataclass(frozen=True)
class InspectionResult:
    """One inspected image: score, verdict and why (heatmap, class), validated on construction.

    `verdict` is OK or NG by the threshold, or UNSURE with a `reason` (inspector.verdict.Reason) when a gate
    says the frame cannot be judged; `reason_detail` says what was measured against which bound.
    """

    score: float
    threshold: float
    verdict: Verdict
    model_fingerprint: str
    anomaly_map: np.ndarray | None = None  # float32 [H, W] at the model's input size
    predicted_class: str | None = None
    probs: dict[str, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason: Reason | None = None  # why UNSURE (None for OK and NG)
    reason_detail: str = ""
    defect_type: str | None = None  # what the station's typer names an NG part (None: OK, UNSURE or no typer)
    defect_type_probability: float | None = None  # the typer's probability of that type

    def __post_init__(self) -> None:
        if not math.isfinite(self.score):
            raise ValueError(f"score must be finite, got {self.score}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite, got {self.threshold}")
        if self.verdict is Verdict.UNSURE:
            if not isinstance(self.reason, Reason):
                raise ValueError(f"an UNSURE verdict needs a reason (one of {[r.value for r in Reason]})")
        elif self.reason is not None:
            raise ValueError(f"verdict {self.verdict.value} carries a reason ({self.reason}): only UNSURE does")
        elif self.verdict is not verdict_for(self.score, self.threshold):
            raise ValueError(
                f"verdict {self.verdict.value} contradicts score {self.score} vs threshold {self.threshold}"
            )
        if self.defect_type is not None and self.verdict is not Verdict.NG:
            raise ValueError(f"a {self.verdict.value} part carries a defect type ({self.defect_type}): only NG does")
        if self.anomaly_map is not None and self.anomaly_map.ndim != 2:
            raise ValueError(f"anomaly_map must be 2-D, got shape {self.anomaly_map.shape}")

    @property
    def is_ng(self) -> bool:
        return self.verdict is Verdict.NG

    @property
    def is_unsure(self) -> bool:
        return self.verdict is Verdict.UNSURE

    @property
    def reason_code(self) -> str:
        """The reason as text ('' when judged): what results.csv, SQLite, MQTT and the GUI show."""
        return self.reason.value if self.reason is not None else ""
