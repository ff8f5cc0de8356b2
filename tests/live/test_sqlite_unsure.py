"""SQLite keeps UNSURE and its reason; a database from before UNSURE (verdict CHECK OK/NG) is migrated, rows kept."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.live.record import FrameRecord
from inspector.live.sinks.sqlite import SqliteSink
from inspector.result import InspectionResult
from inspector.verdict import Reason, Verdict

OLD_SCHEMA = """
CREATE TABLE inspections (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, station TEXT NOT NULL, camera TEXT NOT NULL,
    frame_id INTEGER NOT NULL, score REAL NOT NULL, threshold REAL NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('OK', 'NG')), class TEXT, model TEXT NOT NULL, timings TEXT NOT NULL,
    image_path TEXT
);
CREATE INDEX inspections_time ON inspections (time);
CREATE TABLE images (path TEXT PRIMARY KEY, verdict TEXT NOT NULL, bytes INTEGER NOT NULL, time REAL NOT NULL);
INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, model, timings)
VALUES (1.0, 's', 'cam1', 1, 0.5, 1.0, 'OK', 'f', '{}'), (2.0, 's', 'cam1', 2, 1.5, 1.0, 'NG', 'f', '{}');
"""


def unsure_record(frame_id: int) -> FrameRecord:
    result = InspectionResult(
        score=3.0,
        threshold=1.0,
        verdict=Verdict.UNSURE,
        model_fingerprint="f" * 64,
        reason=Reason.FOCUS,
        reason_detail="focus 0.1 below 2",
    )
    image = np.random.default_rng(frame_id).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return FrameRecord("s", "cam1", frame_id, time.time(), result, image, {"total": 5.0})


def test_an_old_database_is_migrated_and_takes_unsure_with_its_reason_and_image(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)
    sink = SqliteSink(path=db, image_dir=tmp_path / "img", save_ok_every=0)
    sink.start()
    sink.submit(unsure_record(3))
    sink.stop(5.0)
    assert sink.stats.rows == 1 and not sink.stats.degraded
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT frame_id, verdict, reason, image_path FROM inspections ORDER BY frame_id").fetchall()
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
        with_check = con.execute("SELECT sql FROM sqlite_master WHERE name = 'inspections'").fetchone()[0]
    assert [r[:3] for r in rows] == [(1, "OK", None), (2, "NG", None), (3, "UNSURE", "focus")]
    assert rows[2][3] and (tmp_path / "img" / rows[2][3]).is_file()  # an UNSURE image is kept, like NG
    assert "inspections_time" in tables and "inspections_before_unsure" not in tables
    assert "'UNSURE'" in with_check
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute(
            "INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, model, "
            "timings) VALUES (1, 's', 'c', 9, 1, 1, 'MAYBE', 'f', '{}')"
        )  # the CHECK still holds
