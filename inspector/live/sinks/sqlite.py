"""The inspection log: SQLite in WAL mode with synchronous=FULL, plus NG and 1-in-N OK images on disk.

Images are written atomically (inspector.atomic) under a disk budget: the oldest OK images are deleted
first, NG images are kept longest and an OK image never evicts an NG one. The row is always written:
an image that cannot be stored (disk full, read-only or permission-denied folder, shed from the queue)
leaves the row with `image_path` NULL and `image_error` saying why, and raises an alarm (`degraded`);
images are retried after `retry_after_s`. Rows come before images: when the database itself is full,
OK images are evicted to make room and rows wait in memory (`rows_pending`, bounded) until they fit;
only those that never fit are `rows_lost`. Alarm transitions (`Sink.alarm`, inspector.live.alarms) go
through the same queue into the `alarms` table under the same rules (sqlite_schema.py has the tables).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
from pydantic import model_validator

from inspector.atomic import atomic_write
from inspector.live.alarms import AlarmEvent
from inspector.live.record import FrameRecord
from inspector.live.settings import DataPath, fail, setting
from inspector.live.sinks.base import Sink, SinkSettings, SinkStats, register_sink
from inspector.live.sinks.sqlite_schema import INSERT_ALARM, INSERT_INSPECTION, alarm_row, migrate

log = logging.getLogger(__name__)

MAX_PENDING_ROWS = 100_000  # rows kept in memory while the database is full (about 200 bytes each)
RESERVE_MB = 64.0  # free disk kept for rows: no image is saved into it (NG images evict OK ones first)
WAL_PAGES = 256  # checkpoint the WAL at about 1 MB, so it never holds the room rows need
DB_RETRY_S = 5.0  # while the database is full, pending rows are retried this often (and at stop)
EVICT_PER_ATTEMPT = 16  # OK images deleted to make room for rows, per failed commit


@dataclass
class SqliteStats(SinkStats):
    rows: int = 0  # inspection rows committed
    alarm_rows: int = 0  # alarm rows committed (raised or cleared)
    rows_pending: int = 0  # rows (inspections and alarms) waiting in memory for room in the database
    rows_lost: int = 0  # rows the database never took (backlog overflow, or still pending at stop)
    images_saved: int = 0
    images_deleted: int = 0  # evicted to stay under the budget (or to make room for rows)
    images_skipped: int = 0  # not saved: over budget, degraded, unwritable or shed
    image_failures: int = 0  # image writes that failed (any OSError: full, read-only, permission)
    image_bytes: int = 0  # bytes of images currently kept
    disk_full_events: int = 0
    degraded: bool = False  # images (or rows) cannot be written; retried after retry_after_s
    alarm: bool = False  # raised while degraded: operators must free space or fix permissions
    last_frame_id: int = 0  # of the last committed row


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


class SqliteSettings(SinkSettings):
    """`[sinks.sqlite]`: paths are relative to `storage.data_dir`."""

    path: DataPath = setting("inspections.db", help="the database")
    image_dir: DataPath = setting(
        "images", help="folder of saved images (`YYYYMMDD/<camera>-<ms>-<frame>-<OK|NG>.png`)"
    )
    save_ok_every: int = setting(100, help="save 1 in N OK images (`0`: none); NG images are always saved", ge=0)
    disk_budget_mb: float = setting(
        1024.0,
        ge=0,
        help="size cap of `image_dir`: the oldest OK images are deleted "
        "first, NG images are kept longest, an OK image never evicts an NG one",
    )

    @model_validator(mode="after")
    def _usable_paths(self) -> SqliteSettings:
        if Path(self.path).is_dir():
            raise fail(
                ("path",), f"{self.path} is a folder, not a database file", 'name a file, e.g. path = "inspections.db"'
            )
        if Path(self.image_dir).exists() and not Path(self.image_dir).is_dir():
            raise fail(
                ("image_dir",), f"{self.image_dir} is a file, not a folder", 'name a folder, e.g. image_dir = "images"'
            )
        return self


@register_sink("sqlite")
class SqliteSink(Sink):
    Settings = SqliteSettings
    keeps_alarms = True  # the station's alarm log (inspector report lists it)
    stats: SqliteStats  # the base counters plus rows, images and disk state

    def __init__(
        self,
        *,
        path: str | os.PathLike,
        image_dir: str | os.PathLike = "images",
        save_ok_every: int = 100,
        disk_budget_mb: float = 1024.0,
        queue_size: int = 1024,
        retry_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        write_bytes: Callable[[int, memoryview], int] = os.write,
        max_image_bytes: int | None = None,
        reserve_mb: float = RESERVE_MB,
    ) -> None:
        extra = {} if max_image_bytes is None else {"max_image_bytes": max_image_bytes}
        super().__init__(queue_size=queue_size, **extra)
        self.path = Path(path)
        self.image_dir = Path(image_dir)
        self.save_ok_every = int(save_ok_every)
        self.budget = int(float(disk_budget_mb) * 1024 * 1024)
        self.retry_after_s = retry_after_s
        self.reserve = int(float(reserve_mb) * 1024 * 1024)
        self._clock = clock
        self._write_bytes = write_bytes
        self._degraded_at: float | None = None
        self._ok_seen = 0
        self._db: sqlite3.Connection | None = None
        self._pending: deque[tuple[str, tuple, tuple | None]] = deque()  # (insert, row, images row) to commit
        self._evicted: set[str] = set()  # image files deleted for room whose `images` rows await a commit
        self._last_size = 0
        self.stats = SqliteStats()

    # ------------------------------------------------------------------ lifecycle (worker thread)
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_PAGES * 4096}")  # the WAL shrinks back after checkpoints
            migrate(db)
        except sqlite3.Error as exc:  # name the file: "unable to open database file" alone does not
            raise sqlite3.OperationalError(f"{self.path}: {exc}") from exc
        self._db = db
        self.stats.image_bytes = int(db.execute("SELECT COALESCE(SUM(bytes), 0) FROM images").fetchone()[0])
        try:
            self.image_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.image_dir.glob(".*.tmp"):  # a temp file left by a power cut is never a result
                stale.unlink(missing_ok=True)
        except OSError as exc:  # rows still go in; images are retried and the alarm says why
            self._enter_degraded(f"images: {self.image_dir}: {exc.strerror or exc}", full=_is_disk_full(exc))

    def close(self) -> None:
        if self._db is not None:
            self._flush_pending()
            if self._pending:
                lost = len(self._pending)
                self.stats.rows_lost += lost
                self.stats.lost_at_stop += lost
                self._pending.clear()
                self.stats.rows_pending = 0
                log.error("sqlite: rows not written at stop (database full)", extra={"fields": {"rows": lost}})
            self._db.close()
            self._db = None

    def wants_image(self, record: FrameRecord) -> bool:
        """NG images always; 1 in `save_ok_every` OK images (decided once, as records are submitted)."""
        if record.result.is_ng or record.result.is_unsure:  # a person looks at both
            return True
        self._ok_seen += 1
        return self.save_ok_every > 0 and self._ok_seen % self.save_ok_every == 0

    # ------------------------------------------------------------------ writing
    def write(self, record: FrameRecord) -> None:
        if self._db is None:
            self.open()
        image_path, image_error = self._save_image(record)
        row = (
            record.captured_at,
            record.station,
            record.camera,
            record.frame_id,
            record.result.score,
            record.result.threshold,
            record.result.verdict.value,
            record.result.predicted_class,
            record.result.model_fingerprint,
            json.dumps({k: round(v, 3) for k, v in record.timings_ms.items()}),
            image_path,
            image_error or None,
            record.run,
            record.part_id or None,
            record.result.reason_code or None,
            record.recipe or None,
            record.lot or None,
            record.result.defect_type,
        )  # the typer's name for an NG part (docs/classification.md#typer)
        image_row = (
            (image_path, record.result.verdict.value, self._last_size, record.captured_at) if image_path else None
        )
        self._hold(INSERT_INSPECTION, row, image_row)
        if not self._pending:
            self.stats.last_frame_id = record.frame_id
            log.debug(
                "committed",
                extra={
                    "fields": {
                        "camera": record.camera,
                        "frame_id": record.frame_id,
                        "verdict": record.result.verdict.value,
                    }
                },
            )

    def write_alarm(self, event: AlarmEvent) -> None:
        """One alarm transition into `alarms`: pending in memory while the database is full, like a result row."""
        if self._db is None:
            self.open()
        self._hold(INSERT_ALARM, alarm_row(event), None)

    def _hold(self, insert: str, row: tuple, image_row: tuple | None) -> None:
        """Queue a row for commit (bounded) and commit what is pending unless the database full waits."""
        self._pending.append((insert, row, image_row))
        if len(self._pending) > MAX_PENDING_ROWS:
            self._pending.popleft()
            self.stats.rows_lost += 1
        waiting = (
            self.stats.rows_pending and self._degraded_at is not None and self._clock() - self._degraded_at < DB_RETRY_S
        )
        if not waiting:
            self._flush_pending()
        self.stats.rows_pending = len(self._pending)

    def _flush_pending(self) -> None:
        """Commit every pending row in one transaction; database full: evict OK images, retry once, keep them."""
        for attempt in range(2):
            try:
                self._commit(list(self._pending))
            except sqlite3.Error as exc:
                self._rollback()
                if not _is_disk_full(exc):
                    raise  # counted and retried by the base class
                if attempt == 0 and (self._evict_ok(EVICT_PER_ATTEMPT) | self._checkpoint()):
                    continue
                self._enter_degraded(f"database: {exc}", full=True)
                self.stats.rows_pending = len(self._pending)
                return
            alarms = sum(insert is INSERT_ALARM for insert, _, _ in self._pending)
            self.stats.alarm_rows += alarms
            self.stats.rows += len(self._pending) - alarms
            self._pending.clear()
            self.stats.rows_pending = 0
            return

    def _commit(self, pending: list[tuple[str, tuple, tuple | None]]) -> None:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        for insert, row, image_row in pending:
            self._db.execute(insert, row)
            if image_row:
                self._db.execute("INSERT OR REPLACE INTO images VALUES (?,?,?,?)", image_row)
        self._db.executemany("DELETE FROM images WHERE path = ?", [(path,) for path in self._evicted])
        self._db.execute("COMMIT")
        self._evicted.clear()

    def _rollback(self) -> None:
        try:
            assert self._db is not None
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open

    def _save_image(self, record: FrameRecord) -> tuple[str | None, str]:
        """(path relative to image_dir, "") when saved; (None, why) when the record's image is not stored."""
        if record.image_shed:
            self.stats.images_skipped += 1
            return None, "shed: the sink queue was over its image budget"
        if record.image is None:
            return None, ""
        ng = record.result.is_ng or record.result.is_unsure  # kept like NG images: evicted after OK ones
        if (
            self.stats.degraded
            and self._degraded_at is not None
            and self._clock() - self._degraded_at < self.retry_after_s
        ):
            self.stats.images_skipped += 1
            return None, f"not saved while degraded: {self.stats.last_error}"
        ok, encoded = cv2.imencode(
            ".png", cv2.cvtColor(record.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
        )
        if not ok:
            self.stats.images_skipped += 1
            return None, "the image cannot be encoded"
        data = encoded.tobytes()
        if not self._make_room(len(data), ng):
            self.stats.images_skipped += 1
            return None, "over the disk budget"
        if not self._disk_room(len(data), ng):
            self.stats.images_skipped += 1
            why = (
                f"images: {self.image_dir}: the disk is nearly full "
                f"(its last {self.reserve >> 20} MB are kept for rows)"
            )
            self._enter_degraded(why, full=True)
            return None, why
        stamp = time.strftime("%Y%m%d", time.localtime(record.captured_at))
        name = f"{stamp}/{record.camera}-{int(record.captured_at * 1000)}-{record.frame_id}-{'NG' if ng else 'OK'}.png"
        final = self.image_dir / name
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(final, data, write=self._write_bytes)
        except OSError as exc:  # full, read-only, permission denied: the row still goes in
            self.stats.images_skipped += 1
            self.stats.image_failures += 1
            why = f"images: {final.parent}: {exc.strerror or exc}"
            self._enter_degraded(why, full=_is_disk_full(exc))
            return None, why
        self._last_size = len(data)
        self.stats.image_bytes += len(data)
        self.stats.images_saved += 1
        if self.stats.degraded and not self._pending:
            self.stats.degraded = self.stats.alarm = False
            log.warning("storage recovered", extra={"fields": {"sink": "sqlite"}})
        return name, ""

    def _enter_degraded(self, why: str, *, full: bool) -> None:
        self._degraded_at = self._clock()
        if full:
            self.stats.disk_full_events += 1
        if not self.stats.degraded:
            log.error(
                "storage degraded: alarm",
                extra={"fields": {"sink": "sqlite", "error": why, "retry_after_s": self.retry_after_s}},
            )
        self.stats.degraded = self.stats.alarm = True
        self.stats.last_error = why

    def _disk_room(self, size: int, ng: bool) -> bool:
        """Whether `size` bytes fit on the disk above the reserve (an NG image evicts OK images for it)."""
        while True:
            try:
                free = shutil.disk_usage(self.image_dir if self.image_dir.exists() else self.path.parent).free
            except OSError:
                return True  # unknown: the write itself will say
            if free - size >= self.reserve:
                return True
            if not ng or not self._evict_ok(4):
                return False

    def _checkpoint(self) -> bool:
        """Fold the WAL into the database and truncate it: on a full disk the WAL holds the space rows need."""
        assert self._db is not None
        try:
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:
            return False
        return busy == 0

    def _evict_ok(self, count: int) -> bool:
        """Delete the files of up to `count` of the oldest OK images (rows matter more); True if any went.

        Their rows in `images` go with the next commit: the database is full now."""
        assert self._db is not None
        victims = self._db.execute(
            "SELECT path, bytes FROM images WHERE verdict = 'OK' ORDER BY time LIMIT ?", (count + len(self._evicted),)
        ).fetchall()
        victims = [(path, size) for path, size in victims if path not in self._evicted][:count]
        for path, size in victims:
            (self.image_dir / path).unlink(missing_ok=True)
            self._evicted.add(path)
            self.stats.image_bytes -= int(size)
            self.stats.images_deleted += 1
        return bool(victims)

    def _delete_image(self, path: str, size: int) -> None:
        assert self._db is not None
        (self.image_dir / path).unlink(missing_ok=True)
        self._db.execute("DELETE FROM images WHERE path = ?", (path,))
        self.stats.image_bytes -= size
        self.stats.images_deleted += 1

    def _make_room(self, size: int, ng: bool) -> bool:
        """Evict old images until `size` more bytes fit the budget; False when they cannot."""
        assert self._db is not None
        while self.stats.image_bytes + size > self.budget:
            order = "CASE verdict WHEN 'OK' THEN 0 ELSE 1 END, time" if ng else "time"
            where = "" if ng else "WHERE verdict = 'OK'"
            found = self._db.execute(
                f"SELECT path, bytes FROM images {where} ORDER BY {order} LIMIT ?", (len(self._evicted) + 1,)
            ).fetchall()
            victim = next((v for v in found if v[0] not in self._evicted), None)
            if victim is None:
                return False
            self._delete_image(victim[0], int(victim[1]))
        return True
