"""The operator model is Qt-free: every module of inspector.operator imports where PySide6 cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys

from fakes import REPO

# PySide6 made unimportable (None in sys.modules), then every module of the package imported; a GUI module
# must fail there, which shows the block holds
CODE = """
import importlib, json, pkgutil, sys
sys.modules["PySide6"] = None
import inspector.operator as operator
names = sorted(m.name for m in pkgutil.walk_packages(operator.__path__, "inspector.operator."))
for name in names:
    importlib.import_module(name)
try:
    import inspector.gui.main_window
    blocked = False
except ImportError:
    blocked = True
loaded = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "PySide6" and mod is not None)
print(json.dumps({"modules": names, "blocked": blocked, "pyside6": loaded}))
"""


def test_every_operator_module_imports_without_pyside6() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["blocked"], "a GUI module imported with PySide6 blocked: the check would not catch Qt"
    assert report["pyside6"] == []
    expected = {
        f"inspector.operator.{p.stem}" for p in (REPO / "inspector" / "operator").glob("*.py") if p.stem != "__init__"
    }
    assert (
        set(report["modules"]) == expected and {"inspector.operator.station", "inspector.operator.settings"} <= expected
    )
