"""`inspector report --db inspections.db`: lot and shift reports from the station's inspection log (SQLite).

One line per group (`--by lot`, `recipe`, `camera`, `shift` or `day`): parts inspected, OK, NG, UNSURE,
yield (OK / parts) and NG rate (NG / parts), NG by defect type (the station typer's names), UNSURE by
reason (docs/verdicts.md#reasons; "unknown" for a row without one), first and last time, and the alarms of
its time span (report_alarms.py: the station log's `alarms` table; count per alarm name, the episodes with
their times in `--format json`). A group's span is its shift or day (`--by shift`, `day`), else its first to
last part; an alarm active across the span's start counts too. By shift or day, a shift in which an alarm was
raised but no part inspected is a group of its own (0 parts: a camera down all shift shows). `--lot`,
`--recipe`, `--since`, `--until` narrow the rows. Shifts start at the local times of `--shifts` (default
06:00,14:00,22:00); a shift that crosses midnight belongs to the day it started. The database is opened
read-only, so a running station keeps writing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from inspector.errors import InspectorError
from inspector.live.report_alarms import AlarmSpan, counts, read_alarms
from inspector.typer import pareto

GROUPS = ("lot", "recipe", "camera", "shift", "day")


@dataclass
class Group:
    key: str
    parts: int = 0
    ok: int = 0
    ng: int = 0
    unsure: int = 0
    first: float = 0.0
    last: float = 0.0
    ng_by_type: dict[str, int] = field(default_factory=dict)  # the typer's names ("untyped": NG without one)
    unsure_by_reason: dict[str, int] = field(default_factory=dict)  # "focus", ... ("unknown": UNSURE without one)
    alarms: dict[str, int] = field(default_factory=dict)  # alarm name -> episodes active in the span, most first
    alarm_spans: list[AlarmSpan] = field(default_factory=list)  # those episodes, in the order raised
    span_start: float = 0.0  # the time span alarms are counted in: the shift or day (by shift/day), else
    span_end: float = 0.0  # first .. last part

    @property
    def yield_pct(self) -> float:
        return 100.0 * self.ok / self.parts if self.parts else 0.0

    @property
    def ng_pct(self) -> float:
        return 100.0 * self.ng / self.parts if self.parts else 0.0

    def row(self) -> dict[str, object]:
        data = asdict(self)
        data.update(
            yield_pct=round(self.yield_pct, 3),
            ng_pct=round(self.ng_pct, 3),
            first=_iso(self.first),
            last=_iso(self.last),
            span_start=_iso(self.span_start),
            span_end=_iso(self.span_end),
            alarm_spans=[
                {
                    "name": span.name,
                    "camera": span.camera,
                    "raised": _iso(span.raised),
                    "cleared": _iso(span.cleared) if span.cleared is not None else None,
                    "active_before": span.raised < self.span_start,
                    "detail": span.detail,
                }
                for span in self.alarm_spans
            ],
        )
        return data


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds") if seconds else ""


def _shift_window(starts: list[dt.time]) -> Callable[[float], tuple[str, float, float]]:
    """time -> ("2026-12-02 S2 (14:00)", the shift's start, the next shift's start): the shift (numbered from the
    earliest start) that began last before it."""
    ordered = sorted(starts)

    def window(seconds: float) -> tuple[str, float, float]:
        moment = dt.datetime.fromtimestamp(seconds)
        day, now = moment.date(), moment.time()
        index = max((i for i, start in enumerate(ordered) if start <= now), default=None)
        if index is None:  # before the first start: the last shift of the day before
            day, index = day - dt.timedelta(days=1), len(ordered) - 1
        begin = dt.datetime.combine(day, ordered[index])
        end = (
            dt.datetime.combine(day, ordered[index + 1])
            if index + 1 < len(ordered)
            else dt.datetime.combine(day + dt.timedelta(days=1), ordered[0])
        )
        return f"{day} S{index + 1} ({ordered[index].strftime('%H:%M')})", begin.timestamp(), end.timestamp()

    return window


def _shift_of(starts: list[dt.time]) -> Callable[[float], str]:
    """time -> "2026-12-02 S2 (14:00)": its shift's name (`_shift_window`)."""
    window = _shift_window(starts)
    return lambda seconds: window(seconds)[0]


def _day_window(seconds: float) -> tuple[str, float, float]:
    day = dt.date.fromtimestamp(seconds)
    begin = dt.datetime.combine(day, dt.time())
    return str(day), begin.timestamp(), (begin + dt.timedelta(days=1)).timestamp()


def _add_alarms(
    groups: dict[str, Group],
    spans: list[AlarmSpan],
    by: str,
    window: Callable[[float], tuple[str, float, float]] | None,
    bounds: tuple[float | None, float | None],
    *,
    alone: bool,
) -> list[Group]:
    """Give each group the alarm episodes of its span; by shift/day (and `alone`), a shift with an alarm raised
    and no part becomes a group of its own. The groups in time order."""
    since, until = bounds
    low, high = since if since is not None else -float("inf"), until if until is not None else float("inf")
    spans = [s for s in spans if s.overlaps(low, high, closed=False)]
    if window is not None and alone:
        for span in spans:
            if low <= span.raised < high:
                name = window(span.raised)[0]
                groups.setdefault(name, Group(name))
    for group in groups.values():
        if window is not None:
            _, group.span_start, group.span_end = window(group.first or _first_raised(spans, group.key, window))
        else:
            group.span_start, group.span_end = group.first, group.last
        start, end = max(group.span_start, low), min(group.span_end, high)
        group.alarm_spans = [
            s
            for s in spans
            if s.overlaps(start, end, closed=window is None) and (by != "camera" or s.camera in ("", group.key))
        ]
        group.alarms = counts(group.alarm_spans)
    return sorted(groups.values(), key=lambda g: g.span_start)


def _first_raised(spans: list[AlarmSpan], key: str, window: Callable[[float], tuple[str, float, float]]) -> float:
    return next(s.raised for s in spans if window(s.raised)[0] == key)


def _time_arg(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InspectorError(f"{text!r} is not a date or time", "write it as 2026-12-02 or 2026-12-02T06:00") from None


def report(
    db_path: Path,
    *,
    by: str = "lot",
    lot: str | None = None,
    recipe: str | None = None,
    since: float | None = None,
    until: float | None = None,
    shifts: list[dt.time] | None = None,
) -> list[Group]:
    """The groups of the rows that match, in time order of their first part."""
    if by not in GROUPS:
        raise InspectorError(f"--by {by}: not a grouping", f"use one of {', '.join(GROUPS)}")
    if not db_path.is_file():
        raise InspectorError(f"{db_path}: no inspection log there", "give --db the station's [sinks.sqlite] path")
    where: list[str] = []
    params: list[str | float] = []  # the lot/recipe names, then the time bounds
    for column, value in (("lot", lot), ("recipe", recipe)):
        if value is not None:
            where.append(f"COALESCE({column}, '') = ?")
            params.append(value)
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if until is not None:
        where.append("time < ?")
        params.append(until)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(inspections)")}
            if not columns:
                raise InspectorError(f"{db_path}: not an Inspector inspection log", "give --db the station's database")
            if by in ("lot", "recipe") and by not in columns:  # a log from before lots and recipes
                key_sql = "''"
            else:
                key_sql = {"shift": "time", "day": "time"}.get(by, f"COALESCE({by}, '')")
            type_sql = "defect_type" if "defect_type" in columns else "NULL"  # a log from before the typer
            reason_sql = "reason" if "reason" in columns else "NULL"  # a log from before UNSURE
            rows = db.execute(
                f"SELECT {key_sql}, verdict, time, {type_sql}, {reason_sql} FROM inspections{clause} ORDER BY time",
                params,
            ).fetchall()
            spans = read_alarms(db)
    except sqlite3.Error as exc:
        raise InspectorError(
            f"{db_path}: cannot be read ({exc})", "check the file; copy it if the disk is failing"
        ) from None
    shift = _shift_of(shifts or [dt.time(6), dt.time(14), dt.time(22)])

    def key_of(value: object) -> str:
        if by == "shift":
            return shift(float(value))  # type: ignore[arg-type]
        if by == "day":
            return str(dt.date.fromtimestamp(float(value)))  # type: ignore[arg-type]
        return str(value)

    groups: dict[str, Group] = {}
    for key, verdict, when, defect_type, reason in rows:
        name = key_of(key)
        group = groups.get(name) or groups.setdefault(name, Group(name, first=when))
        group.parts += 1
        group.ok += verdict == "OK"
        group.ng += verdict == "NG"
        if verdict == "NG":
            kind = defect_type or "untyped"
            group.ng_by_type[kind] = group.ng_by_type.get(kind, 0) + 1
        group.unsure += verdict == "UNSURE"
        if verdict == "UNSURE":
            why = reason or "unknown"
            group.unsure_by_reason[why] = group.unsure_by_reason.get(why, 0) + 1
        group.last = when
    window = {"shift": _shift_window(shifts or [dt.time(6), dt.time(14), dt.time(22)]), "day": _day_window}.get(by)
    alone = lot is None and recipe is None  # only a lot's (recipe's) parts: no group of alarms alone
    return _add_alarms(groups, spans, by, window, (since, until), alone=alone)


def write_csv(groups: list[Group], handle: TextIO) -> int:
    """`groups` as `--format csv` writes them (the tables as JSON text, types and reasons sorted); rows written."""
    rows = [group.row() for group in groups]
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["key"])
    writer.writeheader()
    writer.writerows({k: _cell(k, v) for k, v in row.items()} for row in rows)
    return len(rows)


def _cell(key: str, value: object) -> object:
    return (
        json.dumps(value, sort_keys=key in ("ng_by_type", "unsure_by_reason"))
        if isinstance(value, dict | list)
        else value
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, type=Path, help="the station's inspection log ([sinks.sqlite] path)")
    parser.add_argument(
        "--by", choices=GROUPS, default="lot", help="one line per lot (default), recipe, camera, shift or day"
    )
    parser.add_argument("--lot", help='only this lot ("" = parts without a lot)')
    parser.add_argument("--recipe", help="only this recipe")
    parser.add_argument("--since", help="from this local date/time (ISO 8601)")
    parser.add_argument("--until", help="before this local date/time")
    parser.add_argument("--shifts", default="06:00,14:00,22:00", help="local start times of the shifts")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    try:
        shifts = [dt.time.fromisoformat(text.strip()) for text in args.shifts.split(",") if text.strip()]
    except ValueError:
        raise InspectorError(f"--shifts {args.shifts}: not a list of times", "write e.g. 06:00,14:00,22:00") from None
    groups = report(
        args.db,
        by=args.by,
        lot=args.lot,
        recipe=args.recipe,
        since=_time_arg(args.since) if args.since else None,
        until=_time_arg(args.until) if args.until else None,
        shifts=shifts,
    )
    rows = [group.row() for group in groups]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "csv":
        write_csv(groups, sys.stdout)
    else:
        print(f"{args.by:<28} {'parts':>8} {'OK':>8} {'NG':>7} {'UNSURE':>7} {'yield %':>8} {'NG %':>7}  first .. last")
        for group in groups:
            print(
                f"{group.key or '(none)':<28} {group.parts:>8} {group.ok:>8} {group.ng:>7} {group.unsure:>7} "
                f"{group.yield_pct:>8.2f} {group.ng_pct:>7.2f}  {_iso(group.first)} .. {_iso(group.last)}"
            )
        total = Group(
            "total",
            sum(g.parts for g in groups),
            sum(g.ok for g in groups),
            sum(g.ng for g in groups),
            sum(g.unsure for g in groups),
        )
        print(
            f"{'total':<28} {total.parts:>8} {total.ok:>8} {total.ng:>7} {total.unsure:>7} "
            f"{total.yield_pct:>8.2f} {total.ng_pct:>7.2f}"
        )
        types = [kind for g in groups for kind, count in g.ng_by_type.items() for _ in range(count)]
        if any(kind != "untyped" for kind in types):
            print("\nNG by defect type (Pareto)")
            print(f"{'defect type':<28} {'NG':>8} {'cumulative %':>13}")
            for kind, count, share in pareto(types):
                print(f"{kind:<28} {count:>8} {100 * share:>13.1f}")
        _print_unsure(args.by, groups)
        _print_alarms(args.by, groups)
    return 0


def _print_unsure(by: str, groups: list[Group]) -> None:
    """The table's UNSURE section: one line per group that has any, its count by reason (most first)."""
    unsure = [g for g in groups if g.unsure_by_reason]
    if not unsure:
        return
    print("\nUNSURE by reason")
    print(f"{by:<28} {'UNSURE':>7}  reasons")
    for group in unsure:
        reasons = sorted(group.unsure_by_reason.items(), key=lambda item: (-item[1], item[0]))
        words = ", ".join(f"{reason} {count}" for reason, count in reasons)
        print(f"{group.key or '(none)':<28} {group.unsure:>7}  {words}")


def _print_alarms(by: str, groups: list[Group]) -> None:
    """The table's alarm section: one line per group that had any, each alarm with its episodes (most first)."""
    alarmed = [g for g in groups if g.alarms]
    if not alarmed:
        return
    print("\nAlarms (raised in, or active into, the group's span)")
    print(f"{by:<28} {'alarms':>7}  alarm x episodes")
    for group in alarmed:
        words = ", ".join(f"{name} x{count}" for name, count in group.alarms.items())
        print(f"{group.key or '(none)':<28} {sum(group.alarms.values()):>7}  {words}")
