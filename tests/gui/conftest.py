"""GUI tests run with pytest-qt on the offscreen platform; without PySide6 or pytest-qt they are not collected."""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

if all(importlib.util.find_spec(name) for name in ("PySide6", "pytestqt")):
    from qt_helpers import make_window, no_leaks, open_station  # noqa: F401  (fixtures)
else:
    collect_ignore_glob = ["test_*.py"]
