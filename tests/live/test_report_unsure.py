"""`inspector report`: UNSURE by reason per group, read from a real SQLite log written by the station's sink; a log
from before UNSURE (no reason column) still reports."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from test_sqlite_unsure import OLD_SCHEMA

from inspector.cli import main
from inspector.live.record import FrameRecord
from inspector.live.report import report
from inspector.live.sinks.sqlite import SqliteSink
from inspector.result import InspectionResult
from inspector.verdict import Reason, Verdict


def part(frame_id: int, lot: str, reason: Reason | None, score: float = 0.5) -> FrameRecord:
    if reason is not None:
        verdict = Verdict.UNSURE
    else:
        verdict = Verdict.NG if score > 1.0 else Verdict.OK
    result = InspectionResult(
        score=score, threshold=1.0, verdict=verdict, model_fingerprint="f" * 64, reason=reason, reason_detail=""
    )
    return FrameRecord("s", "cam1", frame_id, time.time(), result, None, {"total": 5.0}, lot=lot)


@pytest.fixture()
def log_db(tmp_path: Path) -> Path:
    db = tmp_path / "log.db"
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    parts = [
        part(1, "L1", Reason.FOCUS),
        part(2, "L1", Reason.FOCUS),
        part(3, "L1", Reason.DARK),
        part(4, "L1", None),
        part(5, "L2", None, score=2.0),
        part(6, "L2", Reason.NEAR_THRESHOLD),
        part(7, "L3", None),
    ]
    for record in parts:
        sink.submit(record)
    sink.stop(5.0)
    assert sink.stats.rows == len(parts)
    return db


def test_unsure_is_counted_by_reason_in_each_group(log_db: Path) -> None:
    groups = {g.key: g for g in report(log_db, by="lot")}
    assert groups["L1"].unsure == 3 and groups["L1"].unsure_by_reason == {"focus": 2, "dark": 1}
    assert groups["L2"].unsure_by_reason == {"near_threshold": 1} and groups["L2"].ng == 1
    assert groups["L3"].unsure == 0 and groups["L3"].unsure_by_reason == {}
    (camera,) = report(log_db, by="camera")
    assert camera.unsure_by_reason == {"focus": 2, "dark": 1, "near_threshold": 1}


def test_the_cli_prints_unsure_by_reason_in_table_json_and_csv(log_db: Path, capsys) -> None:
    assert main(["report", "--db", str(log_db), "--by", "lot"]) == 0
    table = capsys.readouterr().out
    section = table.split("UNSURE by reason", 1)[1].splitlines()
    lines = [line.split() for line in section if line.strip()]
    assert lines[1] == ["L1", "3", "focus", "2,", "dark", "1"]  # most first
    assert lines[2] == ["L2", "1", "near_threshold", "1"] and len(lines) == 3  # L3 had none: no line
    assert main(["report", "--db", str(log_db), "--format", "json"]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["L1"]["unsure_by_reason"] == {"focus": 2, "dark": 1}
    assert main(["report", "--db", str(log_db), "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert "unsure_by_reason" in csv_lines[0]
    assert '"{""dark"": 1, ""focus"": 2}"' in csv_lines[1]


def test_a_log_from_before_unsure_reports_without_reasons(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)  # no reason column
        con.execute(
            "INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, model, timings)"
            " VALUES (3.0, 's', 'cam1', 3, 1.0, 1.0, 'NG', 'f', '{}')"
        )
    (group,) = report(db, by="camera")
    assert group.parts == 3 and group.unsure == 0 and group.unsure_by_reason == {}


def test_an_unsure_row_without_a_reason_counts_as_unknown(log_db: Path) -> None:
    with sqlite3.connect(log_db) as con:
        con.execute(
            "INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, model, timings, lot)"
            " VALUES (?, 's', 'cam1', 8, 1.0, 1.0, 'UNSURE', 'f', '{}', 'L3')",
            (time.time(),),
        )
    groups = {g.key: g for g in report(log_db, by="lot")}
    assert groups["L3"].unsure_by_reason == {"unknown": 1}
