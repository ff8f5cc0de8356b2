"""Can Qt open a window here? Finds the Debian packages that the xcb (X11) platform plugin lacks, so that
`inspector demo` can say what to install and run headless instead of aborting inside Qt."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

# what libqxcb.so of PySide6 6.11 links (ldd), with the Debian 12 package of each
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, when PySide6 is installed with one."""
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path, run: Callable[[list[str]], str] | None = None) -> list[str]:
    """The shared libraries `plugin` needs that the system lacks (ldd's "not found"), each once."""
    run = run or _ldd
    missing: list[str] = []
    for line in run(["ldd", str(plugin)]).splitlines():
        name, _, where = line.strip().partition("=>")
        if where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def display_problem(env: dict[str, str] | None = None, run: Callable[[list[str]], str] | None = None) -> str:
    """Why Qt's X11 plugin cannot start here, with the apt-get line that fixes it; "" when nothing is known wrong."""
    env = dict(os.environ) if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "")
    if not env.get("DISPLAY") or platform not in ("", "xcb"):
        return ""  # offscreen, wayland or no X display: not the xcb plugin's business
    plugin = xcb_plugin()
    if plugin is None or (run is None and shutil.which("ldd") is None):
        return ""
    try:
        missing = missing_libraries(plugin, run)
    except (OSError, subprocess.SubprocessError):
        return ""
    if not missing:
        return ""
    packages = sorted({PACKAGES.get(name, name) for name in missing})
    return (
        f"Qt cannot open a window: its X11 plugin needs {', '.join(missing)}. "
        f"Install them with: sudo apt-get install {' '.join(packages)}"
    )


def _ldd(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False).stdout
