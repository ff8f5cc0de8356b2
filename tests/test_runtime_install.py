"""`pip install .` without extras is the edge runtime: it loads a bundle and inspects an image, no torch, and
no MQTT or OPC UA client (extras: a station naming those sinks is told which one to install)."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_plain_install_inspects_an_image_without_torch(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "runs", "out", ".pytest_cache"
        ),
    )
    env_dir = tmp_path / "edge"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(source)], capture_output=True, text=True, check=False
    )
    if install.returncode != 0 and "No matching distribution" in install.stderr + install.stdout:
        pytest.skip(f"package registry unreachable: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-2000:]

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "part.png"), np.random.default_rng(0).integers(0, 255, (100, 140, 3), np.uint8))
    demo = subprocess.run(
        [str(python), "-c", "from inspector.demo import demo_bundle_path; print(demo_bundle_path())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    demo = demo.stdout.strip()
    installed = Path(demo).parents[1]
    shipped = [p for pattern in ("*.py", "*.tmpl") for p in (REPO / "inspector").rglob(pattern)]
    missing = [
        str(p.relative_to(REPO)) for p in shipped if not (installed / p.relative_to(REPO / "inspector")).is_file()
    ]
    assert not missing, f"modules missing from the wheel (add their packages to pyproject.toml): {missing}"
    inspector = env_dir / "bin" / "inspector"
    result = subprocess.run(
        [str(inspector), "batch", str(images), "--model", demo, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and ("OK" in rows[1] or "NG" in rows[1])
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; print([m for m in "
            "('torch', 'timm', 'torchvision', 'albumentations', 'paho', 'asyncua') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert probe.stdout.strip() == "[]"
    train = subprocess.run(
        [str(inspector), "train", "--data", str(images), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert (
        train.returncode == 2 and "pip install 'inspector[train]'" in train.stderr and "Traceback" not in train.stderr
    )
    station = tmp_path / "station.toml"
    station.write_text(
        f'schema_version = 1\nstation = "edge"\n[model]\npath = "{demo}"\n[[cameras]]\nid = "cam1"\n'
        '[cameras.source]\nkind = "synthetic"\nfps = 5\nsize = 64\n[sinks.mqtt]\nhost = "127.0.0.1"\n'
    )
    check = subprocess.run(
        [str(inspector), "daemon", "--config", str(station), "--check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert check.returncode == 2 and "Traceback" not in check.stderr, check.stderr
    assert "the mqtt sink needs `pip install inspector[mqtt]`" in check.stderr, check.stderr
