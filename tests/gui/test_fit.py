"""Issue 15, item 5: at 1366x768 the window, its status bar, buttons, counters and trend fit the screen at
scale 1.0, 1.25 and 1.5 (window frame included), and a refused model shows its whole message in a banner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCREEN = {
    "windowFrameMargins": True,
    "screens": [
        {"name": "line", "x": 0, "y": 0, "width": 1366, "height": 768, "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    ],
}


def inside(rect: list[int], area: list[int], slack: int = 1) -> bool:
    x, y, w, h = rect
    ax, ay, aw, ah = area
    return x >= ax - slack and y >= ay - slack and x + w <= ax + aw + slack and y + h <= ay + ah + slack


@pytest.mark.parametrize(
    ("scale", "mode"), [("1.0", "normal"), ("1.25", "normal"), ("1.5", "normal"), ("1.0", "full"), ("1.5", "full")]
)
def test_the_window_fits_1366x768_at_every_scale(tmp_path: Path, scale: str, mode: str) -> None:
    config = tmp_path / "screen.json"
    config.write_text(json.dumps(SCREEN))
    env = {**os.environ, "QT_SCALE_FACTOR": scale, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    probe = subprocess.run(
        [sys.executable, str(HERE / "fit_probe.py"), mode, str(tmp_path / "review")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    screen = seen["screen"]
    assert inside(seen["frame"], screen), (seen["frame"], screen)
    for name, rect in seen["widgets"].items():
        assert seen["visible"][name] and inside(rect, screen), (name, rect, screen)
    assert seen["columns"][-1] <= seen["counters_width"]  # the NG and yield columns are not cut
    assert seen["notice_text"].endswith("The running model keeps going.") and seen["notice_fits"]
