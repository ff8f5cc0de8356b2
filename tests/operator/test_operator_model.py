"""The operator model without Qt: PIN hashing and lockout, the review manifest, counters and rates, --source."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fakes import FakeClock, record

from inspector.errors import InspectorError
from inspector.imageio import read_image
from inspector.operator.launch import source_camera
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue
from inspector.operator.settings import EngineerLock, Settings, check_pin, hash_pin
from inspector.operator.stats import LineStats, RateMeter


def test_pin_is_salted_and_hashed(tmp_path: Path) -> None:
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"]
    assert check_pin("1234", a) and not check_pin("1235", a)
    settings = Settings(tmp_path / "gui.json")
    with pytest.raises(InspectorError):
        settings.set_pin("12")
    settings.set_pin("987654")
    assert "987654" not in (tmp_path / "gui.json").read_text()
    assert Settings(tmp_path / "gui.json").has_pin


def test_too_many_wrong_pins_block_for_a_while(tmp_path: Path) -> None:
    now = [0.0]
    settings = Settings(None)
    settings.set_pin("432109")
    lock = EngineerLock(settings, clock=lambda: now[0], wall=lambda: now[0])
    for _ in range(5):
        assert not lock.unlock("000000")[0]
    ok, why = lock.unlock("432109")
    assert not ok and "Try again" in why
    now[0] += 61
    assert lock.unlock("432109") == (True, "")
    assert not EngineerLock(Settings(None)).unlock("1234")[0]


def test_review_queue_exports_a_training_manifest(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "review")
    for i in range(10):
        queue.add(record(2.0, frame_id=i), FALSE_REJECT)
    queue.add(record(0.5, frame_id=99, roi=(4, 4, 16, 16)), ESCAPE, label="scratch")
    rows = queue.rows()
    assert len(rows) == 11 and rows[-1]["label"] == "scratch" and rows[-1]["full_image"]
    manifest = queue.export_manifest()
    with open(manifest, newline="") as f:
        exported = list(csv.DictReader(f))
    assert {r["split"] for r in exported if r["label"] == "good"} <= {"train", "val"}
    assert [r["split"] for r in exported if r["label"] == "scratch"] == ["test"]
    assert all((manifest.parent / r["image"]).is_file() for r in exported)
    assert read_image(manifest.parent / exported[-1]["image"]).shape == (16, 16, 3)  # the ROI the model saw


def test_line_stats_count_and_preview_a_threshold() -> None:
    stats = LineStats(["cam1", "cam2"], gallery_size=2)
    stats.ingest([record(0.5), record(2.0), record(3.0, cam="cam2"), record(0.9, cam="cam2")])
    assert (stats.total().ok, stats.total().ng) == (2, 2)
    assert stats.cameras["cam1"].counts.yield_pct == 50.0
    assert len(stats.gallery) == 2 and stats.ng_added == 2
    assert stats.would_change(2.5, 1.0) == (0, 1)
    assert stats.would_change(0.7, 1.0) == (1, 0)
    stats.reset()
    assert stats.total().inspected == 0 and len(stats.gallery) == 2


def test_source_strings(tmp_path: Path) -> None:
    assert source_camera("synthetic").kind == "synthetic"
    assert source_camera("0").kind == "device" and source_camera("0").source["index"] == 0
    assert source_camera("rtsp://u:p@10.0.0.5/s").kind == "url"
    assert source_camera(str(tmp_path)).kind == "folder"
    video = tmp_path / "line.mp4"
    video.write_bytes(b"x")
    assert source_camera(str(video)).kind == "video"
    with pytest.raises(InspectorError):
        source_camera(str(tmp_path / "missing"))


@pytest.mark.parametrize("fps", [0.5, 1.0, 2.0, 5.0, 10.0, 30.0])
def test_the_rate_meter_is_right_at_every_line_rate(fps: float) -> None:
    clock = FakeClock()
    meter = RateMeter(clock=clock)
    readings = []
    for _ in range(int(fps * 20)):
        meter.tick()
        for _ in range(4):  # read it between parts, as the 500 ms timer does at any phase
            clock.advance(1 / fps / 4)
            readings.append(meter.rate())
    steady = readings[len(readings) // 2 :]
    assert min(steady) >= fps * 0.97 and max(steady) <= fps * 1.03, (min(steady), max(steady))
    clock.advance(2.5)
    assert meter.rate() < fps * 0.75  # the line stopped half a window ago: the reading falls
    clock.advance(10 + 3 / fps)
    assert meter.rate() == 0.0
