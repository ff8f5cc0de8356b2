"""Issue 10 item 3: the trend's score strip draws each camera's drift centre and control limits (a real
DriftMonitor's, in score units) in the camera's colour, and names the active drift alarms."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QColor

from inspector.gui.trend import TrendView, alarm_text
from inspector.live.drift import DriftMonitor
from inspector.operator.stats import Bucket

THRESHOLD = math.exp(2.326)  # ln(score) ~ N(0, 1) for good parts (as in tests/live/test_drift.py)
BLUE, GREEN = "#3d8bfd", "#20c997"


def drifting(shift: float) -> DriftMonitor:
    """A calibrated monitor fed 300 in-control parts on cam0 and cam1, then 200 parts shifted by `shift` sd on cam0."""
    rng = np.random.default_rng(1)
    quantiles = np.quantile(np.exp(rng.normal(0.0, 1.0, 400)), np.linspace(0, 1, 256)).tolist()
    monitor = DriftMonitor()
    monitor.rebase({"deployed": {"good_scores": quantiles, "expected_frr": 0.01}}, THRESHOLD, "model-a")
    for cam, mean, n in (("cam0", 0.0, 300), ("cam1", 0.0, 300), ("cam0", shift, 200)):
        for x in np.random.default_rng(len(cam) + n).normal(mean, 1.0, n):
            score = float(np.exp(x))
            monitor.record(cam, "NG" if score > THRESHOLD else "OK", score)
    return monitor


def buckets(now: float) -> list[Bucket]:
    return [Bucket(now - 60 + 10 * i, n=5, ng=0, score_sum=25.0, score_max=6.0) for i in range(5)]


def test_the_score_strip_draws_each_cameras_drift_limits_and_the_alarm(qtbot) -> None:
    now = 10_000.0
    view = TrendView(wall=lambda: now)
    qtbot.addWidget(view)
    view.resize(900, 220)
    series = {"cam0": (BLUE, buckets(now)), "cam1": (GREEN, buckets(now))}
    view.set_data(series, THRESHOLD)
    view.grab()
    assert view.limit_lines == 0 and view.alarm_text == ""  # no drift charts: nothing extra
    monitor = drifting(2.0)
    drift = monitor.state()
    assert "drift_cam0_score_up" in drift["cam0"].alarms and drift["cam1"].alarms == ()
    view.set_data(series, THRESHOLD, drift)
    image = view.grab().toImage()
    assert view.limit_lines == 6  # centre, low and high for each camera
    assert view.alarm_text.startswith("DRIFT cam0: score up") and "cam1" not in view.alarm_text
    # the high limit of cam1 is a horizontal line of cam1's colour across the score strip, where it should be
    legend_h, height = 18.0, (view.height() - 18.0 - 12) / 2
    top, bottom = legend_h + height + 6, legend_h + height + 6 + height - 6
    high = drift["cam1"].score_limits[1]
    tops = [v for _, b in series.values() for v in [x.score_mean for x in b]]
    limits = [v for c in drift.values() for v in (c.score_center, *c.score_limits)]
    top_score = max([*tops, THRESHOLD * 1.3, *limits]) * 1.1
    assert abs(high - 5.0) > 0.1 * top_score  # away from cam1's own score line (mean score 5.0)
    y = round(bottom - (bottom - top) * high / top_score)
    green = QColor(GREEN)

    def is_green(x: int, row: int) -> bool:
        pixel = image.pixelColor(x, row)
        return (
            abs(pixel.red() - green.red()) + abs(pixel.green() - green.green()) + abs(pixel.blue() - green.blue()) < 90
        )

    hits = [x for x in range(60, view.width() - 20) if any(is_green(x, row) for row in (y - 1, y, y + 1))]
    assert len(hits) > 0.3 * (view.width() - 80), len(hits)  # dash-dot: most of the width, not a point or two
    view.set_data(series, THRESHOLD, drifting(0.0).state())
    view.grab()
    assert view.limit_lines == 6 and view.alarm_text == ""  # the process is back: limits, no alarm


def test_alarm_text_names_every_alarm_in_words() -> None:
    from inspector.live.drift import CameraDrift

    drift = {
        "cam0": CameraDrift("cam0", alarms=("drift_cam0_ng_rate", "drift_cam0_score_down")),
        "cam1": CameraDrift("cam1", alarms=("drift_cam1_unsure_rate",)),
        "cam2": CameraDrift("cam2"),
    }
    assert alarm_text(drift, ["cam0", "cam1", "cam2"]) == "DRIFT cam0: NG rate, score down; cam1: UNSURE rate"
    assert alarm_text(drift, ["cam2"]) == "" and alarm_text({}, ["cam0"]) == ""
