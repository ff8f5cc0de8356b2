"""SQLite keeps the typer's defect type of an NG part; a database from before the typer gets the column (rows
kept, NULL) and `inspector report --db` reads both (a log without the column counts NG as untyped)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from test_sqlite_unsure import OLD_SCHEMA

from inspector.live.record import FrameRecord
from inspector.live.report import report
from inspector.live.sinks.sqlite import SqliteSink
from inspector.result import InspectionResult
from inspector.verdict import Verdict


def typed_record(frame_id: int, defect_type: str | None, score: float = 3.0) -> FrameRecord:
    verdict = Verdict.NG if score > 1.0 else Verdict.OK
    result = InspectionResult(
        score=score,
        threshold=1.0,
        verdict=verdict,
        model_fingerprint="f" * 64,
        defect_type=defect_type,
        defect_type_probability=0.9 if defect_type else None,
    )
    return FrameRecord("s", "cam1", frame_id, time.time(), result, None, {"total": 5.0})


def test_an_old_database_gets_the_defect_type_column_and_the_report_a_pareto(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)  # one OK and one NG row, no defect_type column
    assert report(db, by="camera")[0].ng_by_type == {"untyped": 1}  # read before the migration
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    for i, kind in enumerate(["crack", "scratch", "crack"], start=3):
        sink.submit(typed_record(i, kind))
    sink.submit(typed_record(6, None, score=0.5))
    sink.stop(5.0)
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT frame_id, verdict, defect_type FROM inspections ORDER BY frame_id").fetchall()
    assert rows == [
        (1, "OK", None),
        (2, "NG", None),
        (3, "NG", "crack"),
        (4, "NG", "scratch"),
        (5, "NG", "crack"),
        (6, "OK", None),
    ]
    (group,) = report(db, by="camera")
    assert group.ng == 4 and group.ng_by_type == {"untyped": 1, "crack": 2, "scratch": 1}


def test_a_defect_type_belongs_to_ng_parts_only() -> None:
    with pytest.raises(ValueError, match="only NG"):
        InspectionResult(score=0.5, threshold=1.0, verdict=Verdict.OK, model_fingerprint="f", defect_type="crack")


def test_pareto_orders_by_count_with_the_cumulative_share() -> None:
    from inspector.typer import pareto

    assert pareto(["spot", "crack", None, "crack", "crack", "spot"]) == [
        ("crack", 3, 0.5),
        ("spot", 2, 5 / 6),
        ("untyped", 1, 1.0),
    ]
