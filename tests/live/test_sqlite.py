"""The SQLite inspection log with a real database and real files: WAL, images, budget, disk full."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np
from test_sources import FakeClock

from inspector.live.record import FrameRecord
from inspector.live.sinks.base import SINKS
from inspector.live.sinks.sqlite import SqliteSink
from inspector.result import InspectionResult, verdict_for


def record(frame_id: int, score: float, *, camera: str = "cam1", seed: int = 0) -> FrameRecord:
    image = np.random.default_rng(seed + frame_id).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    result = InspectionResult(score=score, threshold=0.5, verdict=verdict_for(score, 0.5), model_fingerprint="f" * 64)
    return FrameRecord(
        station="s1",
        camera=camera,
        frame_id=frame_id,
        captured_at=1_700_000_000.0 + frame_id,
        result=result,
        image=image,
        timings_ms={"capture": 1.0, "inference": 2.0, "total": 4.0},
    )


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT frame_id, verdict, image_path FROM inspections ORDER BY id").fetchall()


def test_registered_and_writes_wal_log_with_images(tmp_path: Path) -> None:
    assert SINKS["sqlite"] is SqliteSink
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=3)
    sink.start()
    for i in range(1, 8):
        sink.submit(record(i, 0.9 if i == 2 else 0.1))
    sink.stop(5.0)
    got = rows(tmp_path / "log.db")
    assert [r[0] for r in got] == list(range(1, 8))
    saved = {r[0]: r[2] for r in got if r[2]}
    assert set(saved) == {2, 4, 7}  # the NG one and every third OK one (OK frames 1, 3, 4, 5, 6, 7)
    for path in saved.values():
        assert (tmp_path / "img" / path).is_file()
    with sqlite3.connect(tmp_path / "log.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = con.execute(
            "SELECT station, camera, score, verdict, model, timings FROM inspections WHERE frame_id=2"
        ).fetchone()
        assert row[:2] == ("s1", "cam1") and row[3] == "NG" and row[4] == "f" * 64 and '"inference": 2.0' in row[5]
    assert sink.stats.rows == 7 and sink.stats.images_saved == 3 and not sink.stats.degraded
    assert not list((tmp_path / "img").rglob(".*.tmp"))


def test_disk_budget_deletes_oldest_ok_first_and_keeps_ng(tmp_path: Path) -> None:
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=1, disk_budget_mb=0)
    sink.open()
    size = len(cv2.imencode(".png", record(1, 0.1).image, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1])
    sink.budget = int(size * 3.5)  # room for three images
    for i, score in enumerate([0.9, 0.1, 0.1, 0.1, 0.9, 0.1], start=1):
        sink.write(record(i, score))
    kept = sorted(p.name for p in (tmp_path / "img").rglob("*.png"))
    assert [name.split("-")[2] for name in kept] == ["1", "5", "6"]  # both NG kept, newest OK kept
    assert sink.stats.images_deleted == 3 and sink.stats.image_bytes <= sink.budget
    for i in (7, 8):  # an OK image never evicts an NG one: with two NG and one OK room, OK images rotate
        sink.write(record(i, 0.1))
    assert {p.name.split("-")[2] for p in (tmp_path / "img").rglob("*.png")} == {"1", "5", "8"}
    sink.close()


def test_zero_budget_saves_no_image_but_logs_every_row(tmp_path: Path) -> None:
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=1, disk_budget_mb=0)
    sink.open()
    for i in range(1, 4):
        sink.write(record(i, 0.9))
    sink.close()
    assert [r[2] for r in rows(tmp_path / "log.db")] == [None, None, None]
    assert sink.stats.images_skipped == 3 and not sink.stats.degraded


def test_disk_full_degrades_with_alarm_no_partial_file_and_recovers(tmp_path: Path) -> None:
    clock = FakeClock()
    full = {"on": True, "calls": 0}

    def write_bytes(fd: int, data: memoryview) -> int:
        full["calls"] += 1
        if full["on"]:
            os.write(fd, bytes(data[:10]))  # part of the file reaches the disk, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    sink = SqliteSink(
        path=tmp_path / "log.db",
        image_dir=tmp_path / "img",
        save_ok_every=1,
        retry_after_s=60.0,
        clock=clock,
        write_bytes=write_bytes,
    )
    sink.start()
    for i in range(1, 6):
        sink.submit(record(i, 0.9))
    sink.stop(5.0)
    assert sink.stats.degraded and sink.stats.alarm and sink.stats.disk_full_events == 1
    assert full["calls"] == 1  # no retry storm: images are skipped until retry_after_s
    assert sink.stats.failures == 0 and sink.stats.rows == 5  # the log itself kept going
    assert not [p for p in (tmp_path / "img").rglob("*") if p.is_file()]  # no partial or temp file
    assert [r[2] for r in rows(tmp_path / "log.db")] == [None] * 5
    full["on"] = False
    clock.now += 61.0
    sink.open()
    sink.write(record(6, 0.9))
    assert not sink.stats.degraded and not sink.stats.alarm and sink.stats.images_saved == 1
    sink.close()


def test_database_disk_full_is_degraded_not_a_crash(tmp_path: Path) -> None:
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=0)
    sink.open()
    sink.write(record(1, 0.1))
    assert sink._db is not None
    page = sink._db.execute("PRAGMA page_count").fetchone()[0]
    sink._db.execute(f"PRAGMA max_page_count={page}")  # SQLite's own limit: the real 'database or disk is full'
    for i in range(2, 200):
        sink.write(record(i, 0.1))
    pending = sink.stats.rows_pending
    assert sink.stats.degraded and sink.stats.alarm and pending > 0 and sink.stats.rows_lost == 0
    sink.close()
    assert sink.stats.rows_lost == pending and sink.stats.rows + pending == 199  # every row accounted for
    with sqlite3.connect(tmp_path / "log.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_open_creates_missing_folders(tmp_path: Path) -> None:
    sink = SqliteSink(path=tmp_path / "a" / "log.db", image_dir=tmp_path / "b" / "img")
    sink.open()
    sink.close()
    assert (tmp_path / "b" / "img").is_dir() and (tmp_path / "a" / "log.db").is_file()
