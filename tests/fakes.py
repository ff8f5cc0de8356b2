"""Qt-free test parts shared by tests/operator and tests/gui: a hand-moved clock and made-up inspected parts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from inspector.live.record import FrameRecord
from inspector.result import InspectionResult, verdict_for

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo.onnx"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def record(
    score: float,
    cam: str = "cam1",
    frame_id: int = 1,
    threshold: float = 1.0,
    roi: tuple[int, int, int, int] | None = None,
    at: float | None = None,
) -> FrameRecord:
    """A made-up inspected 32x32 part (random pixels seeded by `frame_id`)."""
    result = InspectionResult(
        score=score,
        threshold=threshold,
        verdict=verdict_for(score, threshold),
        model_fingerprint="f" * 64,
        anomaly_map=np.full((8, 8), score, np.float32),
    )
    image = np.random.default_rng(frame_id).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return FrameRecord("s", cam, frame_id, time.time() if at is None else at, result, image, {"total": 5.0}, roi=roi)
