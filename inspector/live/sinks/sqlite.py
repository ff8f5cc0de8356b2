"""The inspection log: SQLite in WAL mode with synchronous=FULL, plus NG and 1-in-N OK images on disk.

Images are written atomically (temp file, fsync, rename, fsync of the folder) under a disk budget:
the oldest OK images are deleted first, NG images are kept longest and an OK image never evicts an
NG one. A full disk (ENOSPC) puts the sink in a degraded state with an alarm: rows keep being
written while they fit, images are retried only after `retry_after_s`, and no partial file is left.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink, SinkStats, register_sink

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS inspections (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    station TEXT NOT NULL,
    camera TEXT NOT NULL,
    frame_id INTEGER NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('OK', 'NG')),
    class TEXT,
    model TEXT NOT NULL,
    timings TEXT NOT NULL,
    image_path TEXT
);
CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time);
CREATE TABLE IF NOT EXISTS images (
    path TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    time REAL NOT NULL
);
"""


@dataclass
class SqliteStats(SinkStats):
    rows: int = 0  # rows committed
    rows_lost: int = 0  # rows the database could not take (disk full)
    images_saved: int = 0
    images_deleted: int = 0  # evicted to stay under the budget
    images_skipped: int = 0  # not saved: over budget or degraded
    image_bytes: int = 0  # bytes of images currently kept
    disk_full_events: int = 0
    degraded: bool = False  # images (or rows) cannot be written; retried after retry_after_s
    alarm: bool = False  # raised while degraded: operators must free space
    last_frame_id: int = 0  # of the last committed row


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


@register_sink("sqlite")
class SqliteSink(Sink):
    def __init__(self, *, path: str | os.PathLike, image_dir: str | os.PathLike = "images", save_ok_every: int = 100,
                 disk_budget_mb: float = 1024.0, queue_size: int = 1024, retry_after_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 write_bytes: Callable[[int, bytes], int] = os.write) -> None:
        super().__init__(queue_size=queue_size)
        self.path = Path(path)
        self.image_dir = Path(image_dir)
        self.save_ok_every = int(save_ok_every)
        self.budget = int(float(disk_budget_mb) * 1024 * 1024)
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._write_bytes = write_bytes
        self._degraded_at: float | None = None
        self._ok_seen = 0
        self._db: sqlite3.Connection | None = None
        self.stats = SqliteStats()

    # ------------------------------------------------------------------ lifecycle (worker thread)
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.image_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        self._db = db
        self.stats.image_bytes = int(db.execute("SELECT COALESCE(SUM(bytes), 0) FROM images").fetchone()[0])
        for stale in self.image_dir.glob(".*.tmp"):  # a temp file left by a power cut is never a result
            stale.unlink(missing_ok=True)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------------ writing
    def write(self, record: FrameRecord) -> None:
        if self._db is None:
            self.open()
        image_path = self._maybe_save_image(record)
        row = (record.captured_at, record.station, record.camera, record.frame_id, record.result.score,
               record.result.threshold, record.result.verdict.value, record.result.predicted_class,
               record.result.model_fingerprint, json.dumps({k: round(v, 3) for k, v in record.timings_ms.items()}),
               image_path)
        assert self._db is not None
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, "
                             "class, model, timings, image_path) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
            if image_path:
                self._db.execute("INSERT OR REPLACE INTO images VALUES (?,?,?,?)",
                                 (image_path, record.result.verdict.value, self._last_size, record.captured_at))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            if not _is_disk_full(exc):
                raise  # counted and retried by the base class
            self.stats.rows_lost += 1
            self._enter_degraded(f"database: {exc}")
            return
        self.stats.rows += 1
        self.stats.last_frame_id = record.frame_id
        log.debug("committed", extra={"fields": {"camera": record.camera, "frame_id": record.frame_id,
                                                 "verdict": record.result.verdict.value}})

    def _rollback(self) -> None:
        try:
            assert self._db is not None
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open

    def _maybe_save_image(self, record: FrameRecord) -> str | None:
        if record.image is None:
            return None
        ng = record.result.is_ng
        if not ng:
            self._ok_seen += 1
            if self.save_ok_every <= 0 or self._ok_seen % self.save_ok_every:
                return None
        if self.stats.degraded:
            if self._degraded_at is not None and self._clock() - self._degraded_at < self.retry_after_s:
                self.stats.images_skipped += 1
                return None
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(record.image, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError(f"camera {record.camera} frame {record.frame_id}: the image cannot be encoded")
        data = encoded.tobytes()
        if not self._make_room(len(data), ng):
            self.stats.images_skipped += 1
            return None
        stamp = time.strftime("%Y%m%d", time.localtime(record.captured_at))
        name = f"{stamp}/{record.camera}-{int(record.captured_at * 1000)}-{record.frame_id}-{'NG' if ng else 'OK'}.png"
        try:
            self._write_atomic(self.image_dir / name, data)
        except OSError as exc:
            if not _is_disk_full(exc):
                raise
            self.stats.images_skipped += 1
            self._enter_degraded(f"images: {exc}")
            return None
        self._last_size = len(data)
        self.stats.image_bytes += len(data)
        self.stats.images_saved += 1
        if self.stats.degraded:
            self.stats.degraded = self.stats.alarm = False
            log.warning("storage recovered", extra={"fields": {"sink": "sqlite"}})
        return name

    def _enter_degraded(self, why: str) -> None:
        self._degraded_at = self._clock()
        self.stats.disk_full_events += 1
        if not self.stats.degraded:
            log.error("disk full: degraded", extra={"fields": {"sink": "sqlite", "error": why,
                                                               "retry_after_s": self.retry_after_s}})
        self.stats.degraded = self.stats.alarm = True
        self.stats.last_error = why

    def _make_room(self, size: int, ng: bool) -> bool:
        """Evict old images until `size` more bytes fit the budget; False when they cannot."""
        assert self._db is not None
        while self.stats.image_bytes + size > self.budget:
            order = "CASE verdict WHEN 'OK' THEN 0 ELSE 1 END, time" if ng else "time"
            where = "" if ng else "WHERE verdict = 'OK'"
            victim = self._db.execute(f"SELECT path, bytes FROM images {where} ORDER BY {order} LIMIT 1").fetchone()
            if victim is None:
                return False
            (self.image_dir / victim[0]).unlink(missing_ok=True)
            self._db.execute("DELETE FROM images WHERE path = ?", (victim[0],))
            self.stats.image_bytes -= int(victim[1])
            self.stats.images_deleted += 1
        return True

    def _write_atomic(self, final: Path, data: bytes) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[self._write_bytes(fd, view):]
            os.fsync(fd)
        except OSError:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(temp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
