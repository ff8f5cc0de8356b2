"""A drift alarm end to end: a real tiny bundle carrying good calibration scores, the station builder's pipeline
driven frame by frame, Prometheus exposition of its snapshot. A shift of the good parts' scores raises
`inspector_alarm{alarm="drift_cam1_score_up"}`; readiness is not touched (drift is an alarm)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from bundle_edit import with_props
from conftest import make_tiny_bundle
from test_http import parse_prometheus
from test_station import write_config

from inspector.live.camera import Frame
from inspector.live.config import load_config
from inspector.live.http import readiness, render_metrics
from inspector.live.station import build_station

THRESHOLD = 0.3
SD = 0.15  # of ln(score) for good parts; mean ln(0.12): good scores around 0.09-0.16


def gray(score: float, size: int = 64) -> np.ndarray:
    """A uniform frame whose tiny-bundle score (max |x / 255 - 0.5|) is `score`, to 1/255."""
    value = round(127.5 + 255 * score)
    return np.full((size, size, 3), min(255, value), np.uint8)


def drift_alarms(text: str) -> dict[str, float]:
    return {
        dict(labels)["alarm"]: value
        for (name, labels), value in parse_prometheus(text).items()
        if name == "inspector_alarm" and dict(labels).get("alarm", "").startswith("drift_")
    }


def test_a_score_shift_raises_the_prometheus_drift_alarm(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    calibration = np.exp(rng.normal(np.log(0.12), SD, 400))
    deployed = {"threshold": THRESHOLD, "good_scores": np.quantile(calibration, np.linspace(0, 1, 256)).tolist()}
    model = with_props(
        make_tiny_bundle(tmp_path / "plain.onnx", threshold=THRESHOLD),
        tmp_path / "model.onnx",
        threshold_method=json.dumps({"deployed": deployed}),
    )
    station = build_station(load_config(write_config(tmp_path, model)))
    pipeline = station.pipeline

    def part(frame_id: int, log_score: float) -> None:
        pipeline.offer(Frame("cam1", frame_id, gray(float(np.exp(log_score))), 0.0, 0.0, 1.0))
        assert pipeline.step() == 1

    for i in range(600):  # in control: past the rate warm-up, no alarm
        part(i, rng.normal(np.log(0.12), SD))
    snap = station.snapshot()
    assert snap.frames == 600 and snap.verdicts.ok == 600
    assert snap.drift["cam1"].score is not None and snap.drift["cam1"].score.baseline.startswith("calibration")
    assert drift_alarms(render_metrics(snap)) == {}
    first = None
    for i in range(100):  # +2 sd: the line's parts score higher (still OK: well below the threshold)
        part(600 + i, rng.normal(np.log(0.12) + 2 * SD, SD))
        if first is None and station.snapshot().alarms:
            first = i + 1
    snap = station.snapshot()
    assert first is not None and first <= 35, first
    assert drift_alarms(render_metrics(snap)) == {"drift_cam1_score_up": 1.0}
    assert snap.verdicts.ng == 0  # before yield moved
    assert not any("drift" in reason for reason in readiness(snap)[1])  # an alarm, not a readiness failure
