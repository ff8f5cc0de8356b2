"""The edge runtime never imports the training side: an edge box installs tens of MB, not gigabytes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {"torch", "torchvision", "timm", "albumentations", "PySide6", "training", "export"}


def _imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a module (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


RUNTIME_MODULES = sorted(p for p in (REPO / "inspector").rglob("*.py") if "gui" not in p.relative_to(REPO).parts)


@pytest.mark.parametrize("path", RUNTIME_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_runtime_module_imports_nothing_from_training(path: Path) -> None:
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}; the edge runtime must not"


def test_the_scan_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    import torch.nn as nn\n    from training.cli import run\n")
    assert _imports(sample) >= {"torch", "training"}


def test_running_batch_and_demo_loads_no_training_package() -> None:
    code = (
        "import sys\n"
        "import inspector.cli, inspector.batch.command, inspector.demo, inspector.engine\n"
        "import inspector.bundle.session, inspector.bundle.write\n"
        "import inspector.data.check, inspector.metrics, inspector.synthetic\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
