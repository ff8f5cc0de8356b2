"""The GUI front end's own checks: the leak fixtures, the CLI entry points, the demo window, the PySide6 build (the
Qt-free model's tests are in tests/operator)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget
from qt_helpers import REPO, leaked_threads, leaked_widgets


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


def test_cli_gui_needs_something_to_inspect_and_demo_headless_still_prints() -> None:
    gui = subprocess.run(
        [sys.executable, "-m", "inspector", "gui"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert gui.returncode == 2 and "nothing to inspect" in gui.stderr
    demo = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--headless", "--parts", "3", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert demo.returncode == 0 and "inspected 3 parts" in demo.stdout


def test_inspector_demo_opens_the_gui_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "demo"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
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
