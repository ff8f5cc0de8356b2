"""The Qt-free parts: PIN hashing, the review manifest, counters, --source parsing, the CLI entry points."""

from __future__ import annotations

import csv
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget
from qt_helpers import REPO, leaked_threads, leaked_widgets, record

from inspector.errors import InspectorError
from inspector.operator.launch import source_camera
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue
from inspector.operator.settings import EngineerLock, Settings, check_pin, hash_pin
from inspector.operator.stats import LineStats


def test_the_leak_checks_catch_a_thread_and_a_widget(qapp) -> None:
    threads, widgets = set(threading.enumerate()), {id(w) for w in QApplication.topLevelWidgets()}
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="leaky", daemon=True)
    thread.start()
    widget = QWidget()
    assert leaked_threads(threads, wait_s=0.1) == ["leaky"]
    assert leaked_widgets(widgets) == ["QWidget"]
    stop.set()
    thread.join()
    widget.deleteLater()
    assert leaked_threads(threads, wait_s=0.1) == [] and leaked_widgets(widgets) == []


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
    from inspector.imageio import read_image
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


def test_cli_gui_needs_something_to_inspect_and_demo_headless_still_prints() -> None:
    gui = subprocess.run([sys.executable, "-m", "inspector", "gui"], capture_output=True, text=True, cwd=REPO)
    assert gui.returncode == 2 and "nothing to inspect" in gui.stderr
    demo = subprocess.run([sys.executable, "-m", "inspector", "demo", "--headless", "--parts", "3", "--quiet"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert demo.returncode == 0 and "inspected 3 parts" in demo.stdout


def test_inspector_demo_opens_the_gui_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "inspector", "demo"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[str] = []
    try:
        # Wait for both cameras (not a fixed time: a loaded 2-core machine starts slowly), then stop it.
        assert proc.stderr is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            text = "".join(lines)
            if "camera=cam1 state=UP" in text and "camera=cam2 state=UP" in text:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    err = "".join(lines) + rest
    assert proc.returncode == 0, err
    assert "camera=cam1 state=UP" in err and "camera=cam2 state=UP" in err
    assert "gui pipeline stopped" in err and "clean=true" in err


def test_the_installed_pyside6_keeps_none_alive(qapp) -> None:
    """PySide6 6.12.0 lost a reference to None per void call on Python 3.11; the gui extra excludes it."""
    from PySide6.QtGui import QImage

    image = QImage(1, 1, QImage.Format_RGB888)
    before = sys.getrefcount(None)
    for _ in range(50_000):
        image.setDevicePixelRatio(1.0)
    assert sys.getrefcount(None) >= before - 100
