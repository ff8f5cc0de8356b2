"""The pipeline snapshot contract: typed, frozen, and refusing counts that do not add up."""

from __future__ import annotations

import dataclasses
import json

import pytest

from inspector.live.sinks.base import SinkStats
from inspector.live.sinks.sqlite import SqliteStats
from inspector.live.snapshot import (
    CameraSnapshot,
    PipelineSnapshot,
    SinkSnapshot,
    Verdicts,
)


def test_a_consistent_snapshot_is_frozen_and_json_ready() -> None:
    cam = CameraSnapshot(state="UP", up=True, frames=5, inspected=4, dropped=1, verdicts=Verdicts(3, 1))
    snap = PipelineSnapshot(
        station="s",
        model_fingerprint="f",
        ready=True,
        frames=4,
        dropped=1,
        verdicts=Verdicts(3, 1),
        cameras={"cam1": cam},
        latency_ms=(1.5, 2.0),
    )
    assert snap.model_loaded and snap.alarms == [] and snap.verdicts.total == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.frames = 5  # type: ignore[misc]
    data = json.loads(json.dumps(snap.to_dict()))
    assert data["cameras"]["cam1"]["verdicts"] == {"ok": 3, "ng": 1, "unsure": 0, "unsure_by_reason": {}} and data[
        "latency_ms"
    ] == [1.5, 2.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Verdicts(ok=-1), "Verdicts.ok must be a non-negative integer"),
        (lambda: CameraSnapshot(state="UP", up=False), "up=False disagrees with state UP"),
        (lambda: CameraSnapshot(state="GONE"), "state must be one of"),
        (lambda: CameraSnapshot(inspected=2, verdicts=Verdicts(1, 0)), "1 verdicts for 2 inspected"),
        (lambda: PipelineSnapshot(frames=3), "0 verdicts for 3 frames"),
        (
            lambda: PipelineSnapshot(
                ready=True,
                model_fingerprint="f",
                cameras={"c": CameraSnapshot("UP", True)},
                not_ready=("camera c down",),
            ),
            "ready needs",
        ),
        (
            lambda: PipelineSnapshot(frames=1, verdicts=Verdicts(1, 0), cameras={"c": CameraSnapshot()}),
            "not the sum of the cameras' inspected",
        ),
        (lambda: PipelineSnapshot(last_frame_age_s=float("nan")), "last_frame_age_s must be a non-negative number"),
        (lambda: SinkSnapshot(kind="k", counters={"rows_lost": -1}), "counters['rows_lost']"),
    ],
)
def test_inconsistent_snapshots_are_refused(make, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make()


def test_sequences_must_be_tuples() -> None:
    with pytest.raises(TypeError, match="not_ready must be a tuple"):
        PipelineSnapshot(not_ready=["x"])  # type: ignore[arg-type]


def test_sink_snapshot_of_stats_keeps_the_kinds_own_counters() -> None:
    stats = SqliteStats(
        submitted=3, written=2, lost=1, rows=2, rows_lost=1, disk_full_events=4, alarm=True, last_error="disk full"
    )
    snap = SinkSnapshot.of("sqlite", stats)
    assert (snap.submitted, snap.written, snap.lost, snap.last_error, snap.degraded) == (3, 2, 1, "disk full", True)
    assert snap.counters["rows_lost"] == 1 and snap.counters["disk_full_events"] == 4
    assert "alarm" not in snap.counters and "submitted" not in snap.counters
    plain = SinkSnapshot.of("mqtt", SinkStats(failures=2))
    assert plain.failures == 2 and plain.counters == {} and not plain.degraded
    assert PipelineSnapshot(sinks={"sqlite": snap, "mqtt": plain}).alarms == ["sqlite_degraded"]
