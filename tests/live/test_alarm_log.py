"""Alarm transitions kept in the station's log (issue 10 item 3): the one diff of the alarm set (a real DriftMonitor,
sink and camera snapshots), the SQLite `alarms` table (a real database: an older one migrated, rows waiting while
the database is full), and a real station (tiny onnxruntime bundle) whose self-test block is raised and cleared
in its log, with the wall clock injected."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from bundle_edit import with_props
from conftest import make_tiny_bundle
from drift_helpers import calibrated, feed
from test_drift_live import SD, THRESHOLD, gray
from test_golden import parts, write_config
from test_sources import FakeClock
from test_sqlite import record
from test_sqlite_unsure import OLD_SCHEMA
from test_station import write_config as write_station_config

from inspector.live.alarms import CLEARED, GOLDEN, RAISED, AlarmEvent, AlarmLog, current
from inspector.live.camera import Frame
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.report import report
from inspector.live.sinks.sqlite import SqliteSink
from inspector.live.snapshot import CameraSnapshot, PipelineSnapshot, SinkSnapshot
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(120)


def alarm_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT time, name, state, camera, detail FROM alarms ORDER BY id").fetchall()


def test_each_alarm_is_raised_once_and_cleared_once_with_its_camera_time_and_detail() -> None:
    monitor = calibrated()
    feed(monitor, 0.0, 300, seed=2)
    wall = FakeClock()
    events: list[AlarmEvent] = []
    alarms = AlarmLog(events.append, wall=wall)
    down = CameraSnapshot(state="DOWN", last_error="rtsp://cam: timeout")
    degraded = SinkSnapshot(kind="sqlite", degraded=True, last_error="images: disk full")

    def snap(**changes: object) -> PipelineSnapshot:
        return PipelineSnapshot(station="st", run="r1", drift=monitor.state(), **changes)  # type: ignore[arg-type]

    assert alarms.tick(snap()) == []
    feed(monitor, 2.0, 200, seed=3)  # +2 sd: the score CUSUM alarms
    wall.now = 200.0
    troubled = snap(cameras={"cam1": down}, sinks={"sqlite": degraded})
    raised = alarms.tick(troubled, blocked="golden self-test failed: x")
    drifting = set(monitor.alarms())
    assert "drift_cam0_score_up" in drifting
    assert {(e.name, e.state, e.camera) for e in raised} == {(a, RAISED, "cam0") for a in drifting} | {
        ("camera_cam1_down", RAISED, "cam1"),
        ("sqlite_degraded", RAISED, ""),
        (GOLDEN, RAISED, ""),
    }
    by_name = {e.name: e for e in raised}
    assert all(e.time == 200.0 and e.station == "st" and e.run == "r1" for e in raised)
    assert (
        "CUSUM up" in by_name["drift_cam0_score_up"].detail and "limit 10.00" in by_name["drift_cam0_score_up"].detail
    )
    assert by_name["camera_cam1_down"].detail == "rtsp://cam: timeout"
    assert by_name[GOLDEN].detail == "golden self-test failed: x"
    wall.now = 201.0
    assert (
        alarms.tick(snap(cameras={"cam1": down}, sinks={"sqlite": degraded}), blocked="golden self-test failed: x")
        == []
    )
    wall.now = 260.0
    cleared = alarms.tick(snap(cameras={"cam1": CameraSnapshot(state="UP", up=True)}), blocked="")
    assert {(e.name, e.state, e.time) for e in cleared} == {
        ("camera_cam1_down", CLEARED, 260.0),
        ("sqlite_degraded", CLEARED, 260.0),
        (GOLDEN, CLEARED, 260.0),
    }
    assert set(alarms.active) == drifting
    wall.now = 300.0
    stopped = alarms.clear_all()
    assert {(e.name, e.state, e.time, e.detail) for e in stopped} == {
        (a, CLEARED, 300.0, "station stopped") for a in drifting
    }
    assert len(events) == 2 * len(drifting) + 6 and alarms.active == {}


def test_failing_inspection_is_an_alarm_until_the_next_verdict() -> None:
    failing = PipelineSnapshot(consecutive_errors=2, errors=2, last_error="camera cam0: roi outside the frame")
    assert current(failing)["inspection_failing"].detail == "camera cam0: roi outside the frame"
    assert current(PipelineSnapshot(errors=2, last_error="old")) == {}


def test_alarm_rows_go_into_an_older_database_which_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)  # a log from before UNSURE and alarms: two parts
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    sink.alarm(AlarmEvent(10.0, "s1", "r1", "drift_cam1_ng_rate", RAISED, "cam1", "rate EWMA 0.2"))
    sink.submit(record(3, 0.9))
    sink.alarm(AlarmEvent(20.0, "s1", "r1", "drift_cam1_ng_rate", CLEARED, "cam1", ""))
    sink.stop(5.0)
    assert sink.stats.rows == 1 and sink.stats.alarm_rows == 2 and sink.stats.written == 3
    assert alarm_rows(db) == [
        (10.0, "drift_cam1_ng_rate", RAISED, "cam1", "rate EWMA 0.2"),
        (20.0, "drift_cam1_ng_rate", CLEARED, "cam1", ""),
    ]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0] == 3
        with pytest.raises(sqlite3.IntegrityError):  # the table checks its states
            con.execute("INSERT INTO alarms (time, station, name, state) VALUES (1, 's', 'a', 'maybe')")


def test_alarm_rows_wait_in_memory_while_the_database_is_full_and_none_is_lost(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=0, clock=clock)
    sink.open()
    sink.write(record(1, 0.1))
    assert sink._db is not None
    page = sink._db.execute("PRAGMA page_count").fetchone()[0]
    sink._db.execute(f"PRAGMA max_page_count={page}")  # SQLite's own limit: the real 'database or disk is full'
    for i in range(2, 120):
        sink.write(record(i, 0.1))
    sink.write_alarm(AlarmEvent(5.0, "s1", "r1", "sqlite_degraded", RAISED, "", "database: full"))
    assert sink.stats.degraded and sink.stats.rows_pending > 1 and sink.stats.alarm_rows == 0
    sink._db.execute(f"PRAGMA max_page_count={page * 100}")  # room again
    clock.now += 6.0  # past the pending rows' retry delay
    sink.write_alarm(AlarmEvent(6.0, "s1", "r1", "sqlite_degraded", CLEARED, "", ""))
    assert sink.stats.rows_pending == 0 and sink.stats.rows_lost == 0
    assert sink.stats.rows == 119 and sink.stats.alarm_rows == 2
    sink.close()
    assert [r[1:3] for r in alarm_rows(tmp_path / "log.db")] == [
        ("sqlite_degraded", RAISED),
        ("sqlite_degraded", CLEARED),
    ]


def test_a_station_logs_its_self_test_block_raised_and_cleared(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = load_config(write_config(tmp_path, tiny_bundle_path))
    good, bad = parts(tmp_path / "src")
    station = build_station(config)
    golden = GoldenSet(config.data_dir / "golden")
    golden.add(good, "OK", station.engine)
    golden.add(bad, "NG", station.engine)
    path = write_config(tmp_path, tiny_bundle_path, threshold=0.6)  # the threshold tampered: NG -> OK
    path.write_text(path.read_text() + '[sinks.sqlite]\npath = "log.db"\nsave_ok_every = 0\n')
    tampered = load_config(path)
    wall = FakeClock()
    wall.now = 1_800_000_000.0
    station = build_station(tampered, wall=wall)
    station.start()
    try:
        assert GOLDEN in station.alarms.log.active  # raised at the start's first tick
        wall.now += 90.0
        assert station.acknowledge_self_test(who="eng-anna", why="raised on purpose")
        assert GOLDEN not in station.alarms.log.active
    finally:
        wall.now += 10.0
        station.stop(5.0)
    db = tampered.data_dir / "log.db"
    rows = [r for r in alarm_rows(db) if r[1] == GOLDEN]
    assert rows == [
        (1_800_000_000.0, GOLDEN, RAISED, None, "golden self-test failed: scratch.png expected NG got OK"),
        (1_800_000_090.0, GOLDEN, CLEARED, None, ""),
    ]
    assert {r[2] for r in alarm_rows(db) if r[1] != GOLDEN} <= {RAISED, CLEARED}
    (day,) = report(db, by="day")  # no part inspected: the day is there for its alarm
    assert day.parts == 0 and day.alarms[GOLDEN] == 1


def test_a_drift_alarm_through_the_pipeline_is_in_the_log_and_in_both_shifts_it_spans(tmp_path: Path) -> None:
    """The station's own pipeline, driven part by part (a real tiny bundle with calibration scores, as in
    test_drift_live), its real SQLite sink, and the alarm watch ticked after each part at the parts' wall time:
    a score shift just before 14:00 raises drift_cam1_score_up, which clears after 14:00 once the parts are back;
    `inspector report --by shift` counts it in both shifts."""
    rng = np.random.default_rng(11)
    calibration = np.exp(rng.normal(np.log(0.12), SD, 400))
    deployed = {"threshold": THRESHOLD, "good_scores": np.quantile(calibration, np.linspace(0, 1, 256)).tolist()}
    model = with_props(
        make_tiny_bundle(tmp_path / "plain.onnx", threshold=THRESHOLD),
        tmp_path / "model.onnx",
        threshold_method=json.dumps({"deployed": deployed}),
    )
    wall = FakeClock()
    sinks = '[sinks.sqlite]\npath = "log.db"\nsave_ok_every = 0\n'
    station = build_station(load_config(write_station_config(tmp_path, model, sinks=sinks)), wall=wall)
    sqlite_sink = next(sink for sink in station.sinks if sink.kind == "sqlite")
    sqlite_sink.start()
    start = dt.datetime.combine(dt.date(2026, 12, 2), dt.time(13, 0)).timestamp()
    raised_at = cleared_at = None
    for i in range(800):  # one part every 6 s from 13:00: in control, +2 sd for parts 590-639 (13:59-14:04)
        shift = 2 * SD if 590 <= i < 640 else 0.0
        wall.now = start + 6 * i
        image = gray(float(np.exp(rng.normal(np.log(0.12) + shift, SD))))
        station.pipeline.offer(Frame("cam1", i, image, wall.now, 0.0, 1.0))
        assert station.pipeline.step() == 1
        for event in station.alarms.tick():
            if event.name == "drift_cam1_score_up":
                raised_at, cleared_at = (wall.now, cleared_at) if event.state == RAISED else (raised_at, wall.now)
    sqlite_sink.stop(10.0)
    assert raised_at is not None and cleared_at is not None
    assert start + 6 * 590 < raised_at < start + 3600 < cleared_at  # raised before 14:00, cleared after
    db = tmp_path / "log.db"
    assert [r[1:4] for r in alarm_rows(db)] == [
        ("drift_cam1_score_up", RAISED, "cam1"),
        ("drift_cam1_score_up", CLEARED, "cam1"),
    ]
    assert "CUSUM up" in alarm_rows(db)[0][4]
    first, second = report(db, by="shift")
    assert first.key.endswith("S1 (06:00)") and second.key.endswith("S2 (14:00)")
    assert first.alarms == second.alarms == {"drift_cam1_score_up": 1}
    assert first.parts + second.parts == 800 and second.alarm_spans[0].raised < second.span_start
