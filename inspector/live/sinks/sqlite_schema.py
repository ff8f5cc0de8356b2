"""The inspection log's tables (sinks/sqlite.py): their schema and the migrations that keep older databases working.

`inspections` (one row per inspected part), `images` (the saved images, for the disk budget) and `alarms` (one
row per alarm raised or cleared, inspector.live.alarms; `inspector report` lists them per shift). `migrate(db)`
brings any earlier database up to date on open, rows kept: missing columns are added, a table from before
UNSURE is rebuilt, a database from before alarms gets an empty `alarms` table.
"""

from __future__ import annotations

import logging
import sqlite3

from inspector.live.alarms import AlarmEvent

log = logging.getLogger("inspector.live.sinks.sqlite")  # the sink's logger, as before the split

INSPECTIONS = """(

    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    station TEXT NOT NULL,
    camera TEXT NOT NULL,
    frame_id INTEGER NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('OK', 'NG', 'UNSURE')),
    class TEXT,
    model TEXT NOT NULL,
    timings TEXT NOT NULL,
    image_path TEXT,
    image_error TEXT,
    run TEXT,
    part_id TEXT,
    reason TEXT,
    recipe TEXT,
    lot TEXT,
    defect_type TEXT
)"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS inspections {INSPECTIONS};
CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    station TEXT NOT NULL,
    run TEXT,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('raised', 'cleared')),
    camera TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS alarms_time ON alarms (time);
CREATE TABLE IF NOT EXISTS images (
    path TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    time REAL NOT NULL
);
"""


MIGRATIONS = {
    "image_error": "TEXT",
    "run": "TEXT",
    "part_id": "TEXT",
    "reason": "TEXT",
    "recipe": "TEXT",
    "lot": "TEXT",
    "defect_type": "TEXT",
}  # added since the 1st release
INSERT_INSPECTION = (
    "INSERT INTO inspections (time, station, camera, frame_id, score, threshold, verdict, "
    "class, model, timings, image_path, image_error, run, part_id, reason, recipe, lot, "
    "defect_type) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_ALARM = "INSERT INTO alarms (time, station, run, name, state, camera, detail) VALUES (?,?,?,?,?,?,?)"


def alarm_row(event: AlarmEvent) -> tuple:
    """The `alarms` row of one transition (INSERT_ALARM's values)."""
    return (event.time, event.station, event.run, event.name, event.state, event.camera or None, event.detail)


def migrate(db: sqlite3.Connection) -> None:
    """Create what is missing and bring an older database's tables up to date (rows kept)."""
    db.executescript(SCHEMA)  # CREATE ... IF NOT EXISTS: a database from before alarms gets the table
    have = {row[1] for row in db.execute("PRAGMA table_info(inspections)")}
    for column, kind in MIGRATIONS.items():
        if column not in have:
            db.execute(f"ALTER TABLE inspections ADD COLUMN {column} {kind}")
    _allow_unsure(db)
    db.execute("CREATE INDEX IF NOT EXISTS inspections_lot ON inspections (lot)")  # lot reports


def _allow_unsure(db: sqlite3.Connection) -> None:
    """A database from before UNSURE checks verdict IN ('OK', 'NG'): rebuild its table (rows kept, one transaction)."""
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'inspections'").fetchone()
    if "'UNSURE'" in sql:
        return
    columns = ", ".join(row[1] for row in db.execute("PRAGMA table_info(inspections)"))
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE inspections RENAME TO inspections_before_unsure")
        db.execute(f"CREATE TABLE inspections {INSPECTIONS}")
        db.execute(f"INSERT INTO inspections ({columns}) SELECT {columns} FROM inspections_before_unsure")
        db.execute("DROP TABLE inspections_before_unsure")
        db.execute("CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time)")
        db.execute("COMMIT")
    except sqlite3.Error:
        db.execute("ROLLBACK")
        raise
    log.info(
        "database migrated: verdicts may be UNSURE",
        extra={"fields": {"rows": db.execute("SELECT COUNT(*) FROM inspections").fetchone()[0]}},
    )
