"""The alarms of `inspector report` (report.py): episodes from the station log's `alarms` table.

The SQLite sink keeps one row per alarm raised or cleared (inspector.live.alarms). An episode runs from a
`raised` row to the next `cleared` row of the same alarm. An episode without one ends at the next `raised` of
that alarm (the station was restarted or lost power while it was active), else it is still open (`cleared`
None: active at the end of the log). A group lists every episode that overlaps its time span, so an alarm
raised in one shift and cleared in the next counts in both (`active_before`: it was already active when the
span began).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class AlarmSpan:
    """One alarm episode: raised (and cleared: None while still active) in wall-clock seconds."""

    name: str
    camera: str  # "" = the station (a sink, the self-test block)
    raised: float
    cleared: float | None
    detail: str = ""  # what was measured when it was raised

    def overlaps(self, start: float, end: float, *, closed: bool) -> bool:
        """Whether it was active at some time in [start, end] (closed) or [start, end) (a shift or day)."""
        began = self.raised <= end if closed else self.raised < end
        return began and (self.cleared is None or self.cleared >= start)


def read_alarms(db: sqlite3.Connection) -> list[AlarmSpan]:
    """Every episode in the log, in the order raised; [] for a log from before alarms were kept."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'").fetchone():
        return []
    rows = db.execute(
        "SELECT time, name, state, COALESCE(camera, ''), COALESCE(detail, '') FROM alarms ORDER BY time, id"
    )
    spans: list[AlarmSpan] = []
    open_: dict[str, tuple[float, str, str]] = {}  # name -> (raised, camera, detail)
    for when, name, state, camera, detail in rows:
        began = open_.pop(name, None)
        if began is not None:  # cleared, or raised again without a clear (a restart): the episode ends here
            spans.append(AlarmSpan(name, began[1], began[0], float(when), began[2]))
        if state == "raised":
            open_[name] = (float(when), camera, detail)
    spans += [AlarmSpan(name, camera, raised, None, detail) for name, (raised, camera, detail) in open_.items()]
    return sorted(spans, key=lambda span: (span.raised, span.name))


def counts(spans: list[AlarmSpan]) -> dict[str, int]:
    """Episodes per alarm name, most first."""
    found: dict[str, int] = {}
    for span in spans:
        found[span.name] = found.get(span.name, 0) + 1
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))
