"""The GUI's shift report (issue 10 item 3) without Qt: the station's inspection log, read-only, through the
same `inspector.live.report.report` as `inspector report`, as table cells and as the CLI's CSV.

Groups by shift (the station's `[golden] shifts`, else report's 06:00/14:00/22:00), lot, day, recipe or camera:
parts, OK, NG, UNSURE, yield, NG rate, NG by type, UNSURE by reason, and the alarms of its span (where the
report's groups count them: `has_alarms`). The widgets are `inspector.gui.shift_report`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path

from inspector.errors import InspectorError
from inspector.live.config import StationConfig
from inspector.live.report import Group, report, write_csv
from inspector.live.sinks.sqlite import SqliteSettings

log = logging.getLogger("inspector.gui")
BY = ("shift", "lot", "day", "recipe", "camera")  # the groupings of `inspector report --by`, shift first
PERIODS: dict[str, float | None] = {  # name -> seconds back from now (None: the whole log)
    "last 24 hours": 24 * 3600.0,
    "last 7 days": 7 * 24 * 3600.0,
    "last 30 days": 30 * 24 * 3600.0,
    "whole log": None,
}
DEFAULT_SHIFTS = ("06:00", "14:00", "22:00")  # `inspector report --shifts` default
_HEADERS = {
    "ok": "OK",
    "ng": "NG",
    "unsure": "UNSURE",
    "ng_by_type": "NG by type",
    "unsure_by_reason": "UNSURE by reason",
}


def log_path(config: StationConfig) -> Path | None:
    """The station's inspection log (`[sinks.sqlite] path`, under `storage.data_dir`); None without one."""
    sqlite = config.sinks.get("sqlite")
    return Path(sqlite.path) if isinstance(sqlite, SqliteSettings) else None  # resolved by the config loader


def has_alarms() -> bool:
    """True once `inspector.live.report.Group` counts alarms (its `alarms` field: name -> episodes)."""
    return "alarms" in {f.name for f in dataclasses.fields(Group)}


def alarm_words(group: Group) -> tuple[str, str]:
    """(the alarms cell: "drift_cam1_ng_rate x2, ...", the tooltip: each episode with its times); the report's
    row is read, so a log or a report without alarms gives ("", "")."""
    row = group.row()
    alarms, spans = row.get("alarms") or {}, row.get("alarm_spans") or []
    text = ", ".join(f"{name} x{count}" for name, count in alarms.items()) if isinstance(alarms, dict) else ""
    episodes = (
        [
            f"{s.get('name')}{' (' + str(s.get('camera')) + ')' if s.get('camera') else ''}: {s.get('raised')} .. "
            f"{s.get('cleared') or 'still active'}"
            for s in spans
            if isinstance(s, dict)
        ]
        if isinstance(spans, list)
        else []
    )
    return text, "\n".join(episodes)


def _words(value: object) -> str:
    """A count table ("focus 2, dark 1", most first), a list ("a; b") or a value, as one cell."""
    if isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda item: (-item[1], str(item[0])) if _number(item[1]) else (0, ""))
        return ", ".join(f"{key} {count}" for key, count in ordered)
    if isinstance(value, (list, tuple)):
        return "; ".join(_words(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else ""


def total(groups: list[Group]) -> Group:
    """Every group added up (the CLI's total line, with the type and reason tables merged)."""
    out = Group("total")
    for group in groups:
        out.parts, out.ok, out.ng, out.unsure = (
            out.parts + group.parts,
            out.ok + group.ok,
            out.ng + group.ng,
            out.unsure + group.unsure,
        )
        out.first = min(out.first or group.first, group.first)
        out.last = max(out.last, group.last)
        for mine, theirs in ((out.ng_by_type, group.ng_by_type), (out.unsure_by_reason, group.unsure_by_reason)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
    return out


class ShiftReport:
    """One station's log as the dialog shows it; `wall` is the clock the periods count back from."""

    def __init__(self, config: StationConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.db = log_path(config)
        self.shifts = list(config.golden.shifts) or list(DEFAULT_SHIFTS)
        self._wall = wall

    def columns(self) -> list[str]:
        """The table's headers, one per cell of `cells`."""
        return [
            "Group",
            "Parts",
            "OK",
            "NG",
            "UNSURE",
            "Yield %",
            "NG %",
            "NG by type",
            "UNSURE by reason",
            *(["Alarms"] if has_alarms() else []),
            "First",
            "Last",
        ]

    def groups(self, by: str = "shift", period: str = "whole log") -> list[Group]:
        """The log's groups, in time order; InspectorError (plain words) without a log or for a bad one."""
        if self.db is None:
            raise InspectorError(
                "this station keeps no inspection log",
                "add [sinks.sqlite] to the station config (docs/station-config.md)",
            )
        if by not in BY:
            raise InspectorError(f"cannot group by {by!r}", f"use one of {', '.join(BY)}")
        back = PERIODS[period]
        return report(
            self.db,
            by=by,
            since=None if back is None else self._wall() - back,
            shifts=[dt.time.fromisoformat(text) for text in self.shifts],
        )

    def cells(self, group: Group) -> list[str]:
        """One table row: counts, percentages with two decimals (as the CLI prints them), the tables in words."""
        counts = [str(group.parts), str(group.ok), str(group.ng), str(group.unsure)]
        rates = [f"{group.yield_pct:.2f}", f"{group.ng_pct:.2f}"]
        tables = [_words(group.ng_by_type), _words(group.unsure_by_reason)]
        extra = [alarm_words(group)[0]] if has_alarms() else []
        return [group.key or "(none)", *counts, *rates, *tables, *extra, _when(group.first), _when(group.last)]

    def command(self, by: str = "shift", period: str = "whole log") -> str:
        """The `inspector report` command that prints the same groups (for the engineer, and the test)."""
        argv = ["inspector", "report", "--db", str(self.db), "--by", by, "--shifts", ",".join(self.shifts)]
        back = PERIODS[period]
        if back is not None:
            argv += ["--since", dt.datetime.fromtimestamp(self._wall() - back).isoformat(timespec="seconds")]
        return shlex.join(argv)

    def export_csv(self, groups: list[Group], out: Path) -> int:
        """Write `groups` as `inspector report --format csv` does (tables as JSON text); the count written."""
        try:
            with open(out, "w", newline="", encoding="utf-8") as handle:
                return write_csv(groups, handle)
        except OSError as exc:
            raise InspectorError(
                f"cannot write {out}: {exc.strerror or exc}", "choose a folder you may write to"
            ) from None


class ReportRead:
    """One read of the log on its own short-lived thread (a month of a busy line takes seconds, and the UI
    thread never waits on I/O): the dialog polls `done`, then shows `groups` or `error`."""

    def __init__(self, model: ShiftReport, by: str, period: str) -> None:
        self.by, self.period = by, period
        self.groups: list[Group] = []
        self.error: InspectorError | None = None
        self._thread = threading.Thread(target=self._read, args=(model,), name="gui-report", daemon=True)
        self._thread.start()

    def _read(self, model: ShiftReport) -> None:
        try:
            self.groups = model.groups(self.by, self.period)
        except InspectorError as exc:
            self.error = exc
        except Exception as exc:  # a bug must still end the read with words, not a dialog that waits forever
            log.exception("shift report failed")
            self.error = InspectorError(f"the report failed ({exc})", "see the GUI log")

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done
