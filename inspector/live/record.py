"""What flows from the pipeline to every sink: one inspected frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inspector.result import InspectionResult


@dataclass(frozen=True)
class FrameRecord:
    """One frame from one camera, inspected. `image` is the full RGB frame (sinks may save it)."""

    station: str
    camera: str
    frame_id: int
    captured_at: float  # wall-clock seconds (time.time()) when the frame was grabbed
    result: InspectionResult
    image: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)  # capture, preprocess, inference, total
    run: str = ""  # the daemon run: frame ids restart at 1 each run, so (station, camera, run, frame_id) is unique
    image_shed: bool = False  # the pixels were dropped on the way (a sink queue over its byte budget)
    roi: tuple[int, int, int, int] | None = None  # [x, y, w, h] the model saw (None: the whole frame)
    part_id: str = ""  # the PLC's part id from its trigger (docs/plc.md); "" when no PLC triggered the frame
    recipe: str = ""  # the recipe that judged the frame (docs/plc.md#recipes); "" = `[model]` and the cameras' roi
    lot: str = ""  # the lot or batch the part belongs to, as set by the PLC or an operator ("" = none)

    def summary(self) -> dict:
        """JSON-ready fields (no arrays): what MQTT, logs and the database carry."""
        return {
            "station": self.station,
            "camera": self.camera,
            "run": self.run,
            "frame_id": self.frame_id,
            "part_id": self.part_id,
            "recipe": self.recipe,
            "lot": self.lot,
            "time": self.captured_at,
            "score": round(self.result.score, 6),
            "threshold": self.result.threshold,
            "verdict": self.result.verdict.value,
            "reason": self.result.reason_code or None,  # why UNSURE (docs/verdicts.md); None when judged
            "class": self.result.predicted_class,
            "defect_type": self.result.defect_type,  # the typer's name for an NG part; None otherwise
            "model": self.result.model_fingerprint,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
