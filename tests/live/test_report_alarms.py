"""`inspector report`: the alarms of each group's span, from a real SQLite log written by the station's sink (parts
and alarm transitions at set local times): per shift with an alarm active across a shift boundary, a shift of
alarms alone, per lot and camera, the JSON list with times, CSV and table; a log from before alarms."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from test_sqlite_unsure import OLD_SCHEMA

from inspector.cli import main
from inspector.live.alarms import CLEARED, RAISED, AlarmEvent
from inspector.live.record import FrameRecord
from inspector.live.report import report
from inspector.live.sinks.sqlite import SqliteSink
from inspector.result import InspectionResult
from inspector.verdict import Verdict

DAY = dt.date(2026, 12, 2)


def at(hour: int, minute: int = 0, day: int = 0) -> float:
    """Local wall time on DAY (+ `day` days), as the report reads it."""
    return dt.datetime.combine(DAY + dt.timedelta(days=day), dt.time(hour, minute)).timestamp()


def part(frame_id: int, when: float, *, camera: str = "cam0", lot: str = "L1", ng: bool = False) -> FrameRecord:
    verdict = Verdict.NG if ng else Verdict.OK
    result = InspectionResult(score=2.0 if ng else 0.5, threshold=1.0, verdict=verdict, model_fingerprint="f" * 64)
    return FrameRecord("s", camera, frame_id, when, result, None, {"total": 5.0}, lot=lot)


def alarm(when: float, name: str, state: str, camera: str = "", detail: str = "") -> AlarmEvent:
    return AlarmEvent(when, "s", "run-1", name, state, camera, detail)


@pytest.fixture()
def log_db(tmp_path: Path) -> Path:
    """Parts in the morning (06:00-14:00) and late (14:00-22:00) shifts of DAY; alarms:
    - drift_cam0_score_up raised 13:30 (morning), cleared 15:00 (late): counts in both shifts;
    - sqlite_degraded raised 08:00, cleared 08:10 (morning only), raised again 09:00 and never cleared;
    - camera_cam1_down raised 23:00 (night shift, no part inspected then), cleared 01:00 the next day."""
    db = tmp_path / "log.db"
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    items: list[FrameRecord | AlarmEvent] = [
        part(1, at(7), lot="L1"),
        alarm(at(8), "sqlite_degraded", RAISED, detail="images: disk full"),
        alarm(at(8, 10), "sqlite_degraded", CLEARED),
        part(2, at(8, 30), lot="L1", ng=True),
        alarm(at(9), "sqlite_degraded", RAISED, detail="images: disk full"),
        part(3, at(12), lot="L2"),
        alarm(at(13, 30), "drift_cam0_score_up", RAISED, "cam0", "EWMA +0.9 sd"),
        part(4, at(14, 30), lot="L2", camera="cam1"),
        alarm(at(15), "drift_cam0_score_up", CLEARED, "cam0"),
        part(5, at(20), lot="L3"),
        alarm(at(23), "camera_cam1_down", RAISED, "cam1", "no frame for 5 s"),
        alarm(at(1, day=1), "camera_cam1_down", CLEARED, "cam1"),
    ]
    for item in items:
        if isinstance(item, AlarmEvent):
            sink.alarm(item)
        else:
            sink.submit(item)
    sink.stop(5.0)
    assert sink.stats.rows == 5 and sink.stats.alarm_rows == 7 and sink.stats.written == 12
    return db


def test_each_shift_counts_the_alarms_active_in_it_including_across_its_start(log_db: Path) -> None:
    groups = report(log_db, by="shift")
    keys = [g.key for g in groups]
    assert keys == ["2026-12-02 S1 (06:00)", "2026-12-02 S2 (14:00)", "2026-12-02 S3 (22:00)"]
    morning, late, night = groups
    assert morning.parts == 3 and morning.alarms == {"sqlite_degraded": 2, "drift_cam0_score_up": 1}
    assert (morning.span_start, morning.span_end) == (at(6), at(14))
    # raised in the morning, cleared at 15:00; sqlite_degraded raised at 09:00 is still active (never cleared)
    assert late.parts == 2 and late.alarms == {"drift_cam0_score_up": 1, "sqlite_degraded": 1}
    assert {s.name: s.raised < late.span_start for s in late.alarm_spans} == {
        "drift_cam0_score_up": True,
        "sqlite_degraded": True,
    }
    # no part was inspected in the night shift: its camera alarm is a group of its own
    assert night.parts == 0 and night.alarms == {"sqlite_degraded": 1, "camera_cam1_down": 1}
    assert (night.span_start, night.span_end) == (at(22), at(6, day=1))
    (camera_down,) = [s for s in night.alarm_spans if s.name == "camera_cam1_down"]
    assert (camera_down.raised, camera_down.cleared, camera_down.detail) == (at(23), at(1, day=1), "no frame for 5 s")
    open_ = [s for s in night.alarm_spans if s.name == "sqlite_degraded"]
    assert [(s.raised, s.cleared) for s in open_] == [(at(9), None)]


def test_lots_cameras_days_and_the_time_bounds(log_db: Path) -> None:
    lots = {g.key: g for g in report(log_db, by="lot")}  # a lot's span: its first to last part
    assert lots["L1"].alarms == {"sqlite_degraded": 1}  # 07:00-08:30: the 08:00 episode only
    assert lots["L2"].alarms == {"drift_cam0_score_up": 1, "sqlite_degraded": 1}  # 12:00-14:30
    assert lots["L3"].alarms == {"sqlite_degraded": 1}  # 20:00: the camera went down later
    cameras = {g.key: g for g in report(log_db, by="camera")}  # a camera's own alarms and the station's
    assert "drift_cam0_score_up" in cameras["cam0"].alarms and "drift_cam0_score_up" not in cameras["cam1"].alarms
    assert cameras["cam1"].alarms == {"sqlite_degraded": 1}  # 14:30 only: before its camera went down
    (day,) = report(log_db, by="day")  # the next day has no part and no alarm raised in it
    assert day.alarms == {"sqlite_degraded": 2, "drift_cam0_score_up": 1, "camera_cam1_down": 1}
    (only,) = report(log_db, by="shift", lot="L3")  # a lot filter: no shift of alarms alone
    assert only.key == "2026-12-02 S2 (14:00)" and only.alarms == {"drift_cam0_score_up": 1, "sqlite_degraded": 1}
    (late,) = report(log_db, by="shift", since=at(14), until=at(22))
    assert late.alarms == {"drift_cam0_score_up": 1, "sqlite_degraded": 1}


def test_the_cli_lists_alarms_in_table_json_and_csv(log_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(log_db), "--by", "shift"]) == 0
    table = capsys.readouterr().out
    section = [line.split() for line in table.split("Alarms (", 1)[1].splitlines()[2:] if line.strip()]
    assert section[0][3:] == ["3", "sqlite_degraded", "x2,", "drift_cam0_score_up", "x1"]  # key is 3 words
    assert [line[:3] for line in section] == [
        ["2026-12-02", "S1", "(06:00)"],
        ["2026-12-02", "S2", "(14:00)"],
        ["2026-12-02", "S3", "(22:00)"],
    ]
    assert main(["report", "--db", str(log_db), "--by", "shift", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    late = rows[1]
    assert late["alarms"] == {"drift_cam0_score_up": 1, "sqlite_degraded": 1}
    drift = next(s for s in late["alarm_spans"] if s["name"] == "drift_cam0_score_up")
    assert drift == {
        "name": "drift_cam0_score_up",
        "camera": "cam0",
        "raised": dt.datetime.fromtimestamp(at(13, 30)).astimezone().isoformat(timespec="seconds"),
        "cleared": dt.datetime.fromtimestamp(at(15)).astimezone().isoformat(timespec="seconds"),
        "active_before": True,
        "detail": "EWMA +0.9 sd",
    }
    assert next(s for s in late["alarm_spans"] if s["name"] == "sqlite_degraded")["cleared"] is None
    assert main(["report", "--db", str(log_db), "--by", "shift", "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert "alarms" in csv_lines[0].split(",") and "alarm_spans" in csv_lines[0].split(",")
    assert '""camera_cam1_down"": 1' in csv_lines[3]


def test_a_log_from_before_alarms_reports_none(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)  # no alarms table (and no reason column)
    (group,) = report(db, by="shift")
    assert group.parts == 2 and group.alarms == {} and group.alarm_spans == []
    assert group.span_start <= group.first < group.span_end


def test_a_raise_without_its_clear_ends_at_the_next_raise(tmp_path: Path) -> None:
    """A station that lost power while an alarm was active raises it again after the restart: two episodes."""
    db = tmp_path / "log.db"
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    sink.submit(part(1, at(7)))
    sink.alarm(alarm(at(7, 10), "golden_self_test_failed", RAISED, detail="golden self-test failed: a.png"))
    sink.alarm(alarm(at(7, 40), "golden_self_test_failed", RAISED, detail="golden self-test failed: a.png"))
    sink.alarm(alarm(at(7, 50), "golden_self_test_failed", CLEARED))
    sink.alarm(alarm(at(7, 55), "inspection_failing", CLEARED))  # a clear without its raise: nothing
    sink.submit(part(2, at(8)))
    sink.stop(5.0)
    (group,) = report(db, by="shift")
    assert group.alarms == {"golden_self_test_failed": 2}
    assert [(s.raised, s.cleared) for s in group.alarm_spans] == [(at(7, 10), at(7, 40)), (at(7, 40), at(7, 50))]
