"""The pipeline's snapshot: one typed, frozen copy of every live counter (the only shape /metrics, /readyz,
the daemon's status lines and the GUI read; `Pipeline.snapshot()` is its only writer).

Each dataclass checks itself when built: counts are non-negative integers, the totals agree with the
per-camera counts, and `ready` agrees with `not_ready` (a snapshot cannot say "ready" and give a reason
it is not). `to_dict()` is the JSON-ready form.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.live.drift import CameraDrift
    from inspector.live.sinks.base import SinkStats

CAMERA_STATES = ("STARTING", "UP", "DOWN", "STOPPED")  # inspector.live.camera.CameraState values


def _check_counts(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{type(obj).__name__}.{name} must be a non-negative integer, got {value!r}")


def _check_seconds(obj: object, name: str, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        raise ValueError(f"{type(obj).__name__}.{name} must be a non-negative number of seconds, got {value!r}")


@dataclass(frozen=True)
class Verdicts:
    """Parts judged OK and NG, and parts UNSURE (can't judge) by reason (inspector.verdict.Reason values)."""

    ok: int = 0
    ng: int = 0
    unsure: int = 0
    unsure_by_reason: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_counts(self, "ok", "ng", "unsure")
        if sum(self.unsure_by_reason.values()) != self.unsure:
            raise ValueError(f"Verdicts: {sum(self.unsure_by_reason.values())} UNSURE by reason for {self.unsure}")

    @classmethod
    def of(cls, counts: Mapping[tuple[str, str], int]) -> Verdicts:
        """From counts of (verdict, reason) pairs, e.g. {("OK", ""): 3, ("UNSURE", "focus"): 1}."""
        by_reason: dict[str, int] = {}
        for (verdict, reason), n in counts.items():
            if verdict == "UNSURE":
                by_reason[reason] = by_reason.get(reason, 0) + n
        ok = sum(n for (v, _), n in counts.items() if v == "OK")
        ng = sum(n for (v, _), n in counts.items() if v == "NG")
        return cls(ok, ng, sum(by_reason.values()), dict(sorted(by_reason.items())))

    @property
    def total(self) -> int:
        return self.ok + self.ng + self.unsure


@dataclass(frozen=True)
class CameraSnapshot:
    """One camera: its own counters (`frames` passed on, reconnects, rejects) and what the pipeline did with
    them (`inspected`, `dropped` to keep latency bounded, `queued`, `verdicts`)."""

    state: str = "STARTING"
    up: bool = False
    frames: int = 0  # frames the camera passed on to inspection
    inspected: int = 0
    dropped: int = 0  # pushed out of the drop-oldest queue before inspection
    queued: int = 0
    verdicts: Verdicts = field(default_factory=Verdicts)
    rejected_blank: int = 0
    rejected_repeat: int = 0
    skipped: int = 0  # read but not wanted (above max_fps, or no trigger pending)
    triggers: int = 0
    connects: int = 0
    failures: int = 0  # open/read failures and timeouts
    bad_frames: int = 0  # frames the source could not decode
    backoff_s: float = 0.0  # the reconnect delay in use while DOWN
    last_error: str = ""  # URLs already redacted
    last_frame_age_s: float | None = None  # seconds since the camera's last good frame; None: none yet

    def __post_init__(self) -> None:
        if self.state not in CAMERA_STATES:
            raise ValueError(f"CameraSnapshot.state must be one of {CAMERA_STATES}, got {self.state!r}")
        if self.up != (self.state == "UP"):
            raise ValueError(f"CameraSnapshot.up={self.up} disagrees with state {self.state}")
        _check_counts(
            self,
            "frames",
            "inspected",
            "dropped",
            "queued",
            "rejected_blank",
            "rejected_repeat",
            "skipped",
            "triggers",
            "connects",
            "failures",
            "bad_frames",
        )
        if self.verdicts.total != self.inspected:
            raise ValueError(f"CameraSnapshot: {self.verdicts.total} verdicts for {self.inspected} inspected frames")
        _check_seconds(self, "backoff_s")
        _check_seconds(self, "last_frame_age_s", optional=True)


@dataclass(frozen=True)
class SinkSnapshot:
    """One sink's counters: every record it was given ends in `written`, `dropped`, `lost` or `lost_at_stop`
    (or is still `queued`); `counters` holds the kind's own (sqlite: rows, rows_lost, disk_full_events...)."""

    kind: str
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # queue full: the oldest record went
    lost: int = 0  # still failing after every retry
    lost_at_stop: int = 0  # still queued when the stop deadline passed
    failures: int = 0  # write attempts that raised (retried)
    images_shed: int = 0
    queued: int = 0
    queued_image_bytes: int = 0
    last_error: str = ""
    degraded: bool = False  # running, but cannot do all of its job (disk full, read-only folder): an alarm
    counters: Mapping[str, int] = field(default_factory=dict)

    BASE = (
        "submitted",
        "written",
        "dropped",
        "lost",
        "lost_at_stop",
        "failures",
        "images_shed",
        "queued",
        "queued_image_bytes",
    )

    def __post_init__(self) -> None:
        _check_counts(self, *self.BASE)
        for name, value in self.counters.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"SinkSnapshot({self.kind}).counters[{name!r}] must be a non-negative integer, got {value!r}"
                )

    @classmethod
    def of(cls, kind: str, stats: SinkStats) -> SinkSnapshot:
        """From a sink's stats dataclass: the base fields by name, the kind's extra integer counters as
        `counters`, `degraded` from its `degraded`/`alarm` flags."""
        data = dataclasses.asdict(stats)
        base = {name: data.pop(name) for name in (*cls.BASE, "last_error")}
        degraded = bool(data.pop("degraded", False)) | bool(data.pop("alarm", False))
        counters = {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
        return cls(kind=kind, **base, degraded=degraded, counters=counters)


@dataclass(frozen=True)
class ShadowSnapshot:
    """Shadow mode (inspector.live.shadow): how the candidate's verdicts compare with production's on the same
    frames. `disagree` counts each production->candidate pair ("OK->NG"); `skipped` frames came while the
    candidate was busy. Empty `model_fingerprint`: no candidate running (`promoted`: it runs in production)."""

    model_fingerprint: str = ""
    offered: int = 0
    agree: int = 0
    disagree: Mapping[str, int] = field(default_factory=dict)
    skipped: int = 0
    errors: int = 0
    pending: int = 0  # in the slot (0 or 1)
    busy: int = 0  # being judged (0 or 1)
    stored: int = 0  # disagreements on disk (images and rows)
    store_errors: int = 0
    promoted: bool = False
    last_error: str = ""

    def __post_init__(self) -> None:
        _check_counts(self, "offered", "agree", "skipped", "errors", "pending", "busy", "stored", "store_errors")
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in self.disagree.values()):
            raise ValueError(f"ShadowSnapshot.disagree must hold non-negative integers, got {dict(self.disagree)}")
        if self.compared + self.skipped + self.errors > self.offered:
            raise ValueError(
                f"ShadowSnapshot: {self.compared} compared, {self.skipped} skipped and {self.errors} "
                f"failed of {self.offered} offered"
            )

    @property
    def disagreements(self) -> int:
        return sum(self.disagree.values())

    @property
    def compared(self) -> int:
        return self.agree + self.disagreements


@dataclass(frozen=True)
class PipelineSnapshot:
    """Every live counter of one pipeline run, copied under its lock (`Pipeline.snapshot()`)."""

    station: str = ""
    run: str = ""
    ready: bool = False
    not_ready: tuple[str, ...] = ()  # why not ready, in plain words ("camera cam1 down")
    model_fingerprint: str = ""  # "" when no model is loaded
    recipe: str = ""  # the recipe running (docs/plc.md#recipes); "" = `[model]` and the cameras' roi
    lot: str = ""  # the lot being inspected ("" = none set)
    frames: int = 0  # frames inspected (a verdict each)
    verdicts: Verdicts = field(default_factory=Verdicts)
    dropped: int = 0
    errors: int = 0  # inspection errors (bad frame, ROI outside the frame, inference failure)
    consecutive_errors: int = 0  # failed attempts since the last verdict
    last_error: str = ""
    last_frame_age_s: float | None = None  # seconds since the last verdict; None: none yet
    latency_ms: tuple[float, ...] = ()  # the last samples, capture to verdict
    frame_age_s: tuple[float, ...] = ()  # the last samples, age of the inspected frame at its verdict
    inference_ms: tuple[float, ...] = ()  # the last samples, per batch
    cameras: Mapping[str, CameraSnapshot] = field(default_factory=dict)
    sinks: Mapping[str, SinkSnapshot] = field(default_factory=dict)
    shadow: ShadowSnapshot | None = None  # the candidate beside production ([shadow]); None: no shadow mode
    drift: Mapping[str, CameraDrift] = field(default_factory=dict)  # SPC charts per camera (inspector.live.drift)

    def __post_init__(self) -> None:
        _check_counts(self, "frames", "dropped", "errors", "consecutive_errors")
        _check_seconds(self, "last_frame_age_s", optional=True)
        if self.cameras:
            if self.frames != sum(c.inspected for c in self.cameras.values()):
                raise ValueError(f"PipelineSnapshot.frames={self.frames} is not the sum of the cameras' inspected")
            if self.dropped != sum(c.dropped for c in self.cameras.values()):
                raise ValueError(f"PipelineSnapshot.dropped={self.dropped} is not the sum of the cameras' dropped")
        if self.verdicts.total != self.frames:
            raise ValueError(f"PipelineSnapshot: {self.verdicts.total} verdicts for {self.frames} frames")
        if self.ready and (self.not_ready or not self.cameras or not self.model_fingerprint):
            raise ValueError("PipelineSnapshot.ready needs a model, at least one camera and no not_ready reason")
        for name in ("not_ready", "latency_ms", "frame_age_s", "inference_ms"):
            if not isinstance(getattr(self, name), tuple):
                raise TypeError(f"PipelineSnapshot.{name} must be a tuple")

    @property
    def model_loaded(self) -> bool:
        return bool(self.model_fingerprint)

    @property
    def alarms(self) -> list[str]:
        """Active alarms (degraded but running), e.g. `sqlite_degraded`, `drift_cam0_score_up`
        (docs/verdicts.md#drift)."""
        return sorted(
            [
                *(f"{kind}_degraded" for kind, sink in self.sinks.items() if sink.degraded),
                *(alarm for camera in self.drift.values() for alarm in camera.alarms),
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nested dicts and lists)."""
        return dataclasses.asdict(self)
