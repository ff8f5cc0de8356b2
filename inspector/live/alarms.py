"""Alarm transitions for the station's log: the one place that notices an alarm being raised or cleared.

The station's alarms now (`current`) are the snapshot's own (`PipelineSnapshot.alarms`: a sink degraded, a
drift chart out of control; docs/verdicts.md#drift) plus what holds inspection: the golden self-test's block
(`golden_self_test_failed`), a camera down (`camera_<id>_down`) and inspection failing (`inspection_failing`).
`AlarmLog.tick` diffs them with the previous tick's and hands every transition, an `AlarmEvent` (raised or
cleared, name, camera, wall time, detail), to the sinks (`Sink.alarm`: the SQLite sink keeps them in its
`alarms` table for `inspector report`; the others ignore them: MQTT and OPC UA show the live set).
`AlarmWatch` is the small thread `Station.start` starts: one tick every `interval_s`, one more after every
self-test and acknowledgement, and at `stop()` every active alarm is cleared ("station stopped"), so each
episode in the log has an end. The wall clock is injected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.live.drift import CameraDrift, ChartState
    from inspector.live.snapshot import PipelineSnapshot

log = logging.getLogger(__name__)
RAISED, CLEARED = "raised", "cleared"
GOLDEN = "golden_self_test_failed"
FAILING = "inspection_failing"
STOPPED = "station stopped"


@dataclass(frozen=True)
class Alarm:
    """One active alarm: its name, the camera it is about ("" = the station) and what was measured."""

    name: str
    camera: str = ""
    detail: str = ""


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm raised or cleared: what the station's log keeps (SQLite `alarms`)."""

    time: float  # wall-clock seconds (time.time())
    station: str
    run: str
    name: str
    state: str  # RAISED | CLEARED
    camera: str = ""
    detail: str = ""  # raised: what was measured; cleared: "" (or why: "station stopped")


def _chart_detail(chart: ChartState | None, rate: bool) -> str:
    if chart is None:
        return ""
    if rate:
        return (
            f"rate EWMA {chart.ewma:.4f} (in control {chart.center:.4f}), "
            f"CUSUM {chart.cusum_up:.2f} (limit {chart.limit:.2f})"
        )
    return (
        f"EWMA {chart.ewma:+.2f} sd (limits {chart.ewma_low:+.2f}..{chart.ewma_high:+.2f}), "
        f"CUSUM up {chart.cusum_up:.2f} down {chart.cusum_down:.2f} (limit {chart.limit:.2f})"
    )


def _drift_detail(drift: CameraDrift, alarm: str) -> str:
    if alarm.endswith(("_score_up", "_score_down")):
        return _chart_detail(drift.score, rate=False)
    if alarm.endswith("_ng_rate"):
        return _chart_detail(drift.ng_rate, rate=True)
    if alarm.endswith("_unsure_rate"):
        return _chart_detail(drift.unsure_rate, rate=True)
    return ""


def current(snapshot: PipelineSnapshot, blocked: str = "") -> dict[str, Alarm]:
    """The station's active alarms by name: the snapshot's, the self-test block (`blocked`, its reason), cameras
    down and failing inspection."""
    found: dict[str, Alarm] = {}
    for kind, sink in snapshot.sinks.items():
        if sink.degraded:
            found[f"{kind}_degraded"] = Alarm(f"{kind}_degraded", "", sink.last_error)
    for camera, drift in snapshot.drift.items():
        for name in drift.alarms:
            found[name] = Alarm(name, camera, _drift_detail(drift, name))
    for name in snapshot.alarms:  # any later kind of snapshot alarm, by name
        found.setdefault(name, Alarm(name))
    if blocked:
        found[GOLDEN] = Alarm(GOLDEN, "", blocked)
    for camera, cam in snapshot.cameras.items():
        if cam.state == "DOWN":
            name = f"camera_{camera}_down"
            found[name] = Alarm(name, camera, cam.last_error)
    if snapshot.consecutive_errors:
        found[FAILING] = Alarm(FAILING, "", snapshot.last_error)
    return found


class AlarmLog:
    """Diffs the active alarms tick by tick and hands each transition to `emit` (thread-safe)."""

    def __init__(self, emit: Callable[[AlarmEvent], None], *, wall: Callable[[], float] = time.time) -> None:
        self._emit = emit
        self._wall = wall
        self._lock = threading.Lock()
        self._active: dict[str, Alarm] = {}
        self._where = ("", "")  # (station, run) of the last tick: what a clear at stop is stamped with

    @property
    def active(self) -> dict[str, Alarm]:
        with self._lock:
            return dict(self._active)

    def tick(self, snapshot: PipelineSnapshot, blocked: str = "") -> list[AlarmEvent]:
        """Compare the alarms now with the last tick's: one event per alarm raised or cleared (raised first)."""
        now = current(snapshot, blocked)
        with self._lock:
            when = self._wall()
            self._where = (snapshot.station, snapshot.run)
            events = [
                AlarmEvent(when, snapshot.station, snapshot.run, a.name, RAISED, a.camera, a.detail)
                for name, a in now.items()
                if name not in self._active
            ]
            events += [
                AlarmEvent(when, snapshot.station, snapshot.run, a.name, CLEARED, a.camera)
                for name, a in self._active.items()
                if name not in now
            ]
            self._active = now
            self._send(events)
        return events

    def clear_all(self, why: str = STOPPED) -> list[AlarmEvent]:
        """Clear every active alarm (the station stops): each episode in the log ends."""
        with self._lock:
            when = self._wall()
            station, run = self._where
            events = [AlarmEvent(when, station, run, a.name, CLEARED, a.camera, why) for a in self._active.values()]
            self._active = {}
            self._send(events)
        return events

    def _send(self, events: Iterable[AlarmEvent]) -> None:
        for event in events:
            log.log(
                logging.WARNING if event.state == RAISED else logging.INFO,
                f"alarm {event.state}",
                extra={"fields": {"alarm": event.name, "camera": event.camera, "detail": event.detail}},
            )
            try:
                self._emit(event)
            except Exception:  # a sink that fails to take an event must not stop the others' alarms
                log.exception("alarm event not handed on")


class AlarmWatch:
    """The thread that ticks an `AlarmLog` every `interval_s` with the station's snapshot and self-test block."""

    def __init__(
        self,
        alarms: AlarmLog,
        snapshot: Callable[[], PipelineSnapshot],
        blocked: Callable[[], str],
        *,
        interval_s: float = 1.0,
    ) -> None:
        self.log = alarms
        self._snapshot, self._blocked = snapshot, blocked
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticking = threading.Lock()

    def tick(self) -> list[AlarmEvent]:
        """One tick now (the station calls it after a self-test too); a failing snapshot is logged, never raised
        into the caller (a model swap must not fail over its alarm log): the next tick retries."""
        try:
            with self._ticking:  # one snapshot at a time: an older one never lands after a newer one
                return self.log.tick(self._snapshot(), self._blocked())
        except Exception:
            log.exception("alarm watch tick failed")
            return []

    def start(self) -> None:
        """Tick now, then every `interval_s` on a thread of its own."""
        self.tick()
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alarm-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> list[AlarmEvent]:
        """End the thread and clear every active alarm (returned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        return self.log.clear_all()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
