"""Issue 11 items 1, 3, 5: no row is lost to a read-only image folder, a full disk or a stuck sink.

Real filesystems: a read-only bind mount and a small tmpfs (root needed; skipped with the reason otherwise).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_http import parse_prometheus
from test_sources import FakeClock

from inspector.live.http import render_metrics
from inspector.live.record import FrameRecord
from inspector.live.sinks.sqlite import SqliteSink
from inspector.live.snapshot import PipelineSnapshot
from inspector.result import InspectionResult, verdict_for


def record(frame_id: int, score: float, side: int = 32) -> FrameRecord:
    image = np.random.default_rng(frame_id).integers(0, 255, (side, side, 3), dtype=np.uint8)
    result = InspectionResult(score=score, threshold=0.5, verdict=verdict_for(score, 0.5), model_fingerprint="f" * 64)
    return FrameRecord(
        station="s1",
        camera="cam1",
        frame_id=frame_id,
        captured_at=1_700_000_000.0 + frame_id,
        result=result,
        image=image,
        timings_ms={"total": 4.0},
        run="run-a",
    )


def _mount(args: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount (a read-only bind mount / a small tmpfs)")
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"mount refused here: {proc.stderr.strip()}")


@pytest.fixture()
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A real read-only folder: a bind mount remounted ro (EROFS for every write)."""
    target = tmp_path / "ro"
    target.mkdir()
    _mount(["--bind", str(target), str(target)])
    try:
        _mount(["-o", "remount,bind,ro", str(target)])
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "disk"
    target.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)])
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT frame_id, verdict, image_path, image_error, run FROM inspections ORDER BY id"
        ).fetchall()
    finally:
        con.close()  # an open database keeps the tmpfs busy


def test_read_only_image_folder_keeps_every_ng_row_and_raises_the_alarm(tmp_path: Path, read_only_dir: Path) -> None:
    images = read_only_dir / "images"  # cannot even be created: the parent is read-only
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=images, save_ok_every=1, clock=FakeClock())
    sink.start()
    for i in range(1, 6):
        sink.submit(record(i, 0.9))
    assert sink.stop(5.0)
    got = rows(tmp_path / "log.db")
    assert [r[0] for r in got] == [1, 2, 3, 4, 5] and all(r[1] == "NG" and r[2] is None for r in got)
    assert all("Read-only file system" in r[3] or "degraded" in r[3] for r in got), got
    assert sink.stats.alarm and sink.stats.degraded and sink.stats.rows == 5 and sink.stats.lost == 0
    snap = PipelineSnapshot(station="s1", model_fingerprint="f", sinks={"sqlite": sink.snapshot()})
    assert snap.alarms == ["sqlite_degraded"]
    assert parse_prometheus(render_metrics(snap))[("inspector_alarm", frozenset({("alarm", "sqlite_degraded")}))] == 1


def test_read_only_existing_image_folder_marks_the_absence_per_row(tmp_path: Path, read_only_dir: Path) -> None:
    sink = SqliteSink(path=tmp_path / "log.db", image_dir=read_only_dir, save_ok_every=1, clock=FakeClock())
    sink.open()
    sink.write(record(1, 0.9))
    sink.close()
    ((frame_id, verdict, path, error, run),) = rows(tmp_path / "log.db")
    assert (frame_id, verdict, path, run) == (1, "NG", None, "run-a") and "Read-only file system" in error
    assert sink.stats.image_failures == 1 and sink.stats.alarm


def test_database_that_cannot_open_is_a_dead_sink(read_only_dir: Path) -> None:
    sink = SqliteSink(path=read_only_dir / "log.db", image_dir=read_only_dir / "img")
    sink.start()
    sink.submit(record(1, 0.9))
    sink.stop(5.0)
    assert sink.dead and f"{read_only_dir / 'log.db'}: unable to open" in sink.health() and sink.stats.lost == 1


def test_db_and_images_on_one_full_disk_lose_no_row(small_disk: Path, request: pytest.FixtureRequest) -> None:
    sink = SqliteSink(
        path=small_disk / "log.db", image_dir=small_disk / "img", save_ok_every=1, clock=FakeClock(), reserve_mb=1.5
    )
    sink.open()
    request.addfinalizer(sink.close)  # a failed assertion must not leave the database open on the mount
    n = 0
    while sink.stats.disk_full_events == 0 and n < 1000:  # OK images fill the disk down to the reserve
        n += 1
        sink.write(record(n, 0.1, side=48))
    assert sink.stats.disk_full_events >= 1, "the tmpfs never filled"
    for _ in range(3000):  # then only rows: the reserve (and the OK images, if need be) is theirs
        n += 1
        sink.write(record(n, 0.1, side=48))
    sink.close()
    assert sink.stats.rows_lost == 0 and sink.stats.rows == n, vars(sink.stats)
    assert len(rows(small_disk / "log.db")) == n
    metrics = parse_prometheus(render_metrics(PipelineSnapshot(station="s1", sinks={"sqlite": sink.snapshot()})))
    db = frozenset({("sink", "sqlite")})
    assert metrics[("inspector_sink_rows_lost_total", db)] == 0
    assert metrics[("inspector_sink_disk_full_events_total", db)] == sink.stats.disk_full_events


def test_queued_images_are_bounded_in_bytes_and_shedding_keeps_rows(tmp_path: Path) -> None:
    budget = 8 * 1024 * 1024
    sink = SqliteSink(
        path=tmp_path / "log.db", image_dir=tmp_path / "img", save_ok_every=100, max_image_bytes=budget, queue_size=1024
    )
    frames = [record(i, 0.9 if i % 10 == 0 else 0.1, side=1024) for i in range(1, 101)]
    for frame in frames:  # the worker is not started: a sink stuck for good
        sink.submit(frame)
        assert sink.stats.queued_image_bytes <= budget
    ng = sum(f.result.is_ng for f in frames)
    kept = budget // frames[0].image.nbytes
    assert sink.stats.images_shed == ng - kept  # the 90 OK images (1 in 100 wanted) were never held
    sink.start()
    assert sink.stop(30.0)
    got = rows(tmp_path / "log.db")
    assert len(got) == 100  # every row, with or without its image
    assert sum(r[3] is not None and r[3].startswith("shed") for r in got) == sink.stats.images_shed
