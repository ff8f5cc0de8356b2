"""Issue 11 items 12-13: metadata values are validated on load (type, range, finite); batch says why, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bundle_edit import with_props
from PIL import Image

from inspector.bundle.session import load_bundle
from inspector.errors import BundleError

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo.onnx"

BAD = {
    "threshold-word": {"threshold": '"high"'},
    "threshold-list": {"threshold": "[1, 2]"},
    "threshold-nan": {"threshold": "NaN"},
    "threshold-inf": {"threshold": "Infinity"},
    "threshold-negative": {"threshold": "-5"},
    "input-size-int": {"input_size": "128"},
    "input-size-strings": {"input_size": '["128", "128"]'},
    "class-names-dict": {"class_names": '{"good": 0}'},
    "threshold-method-list": {"threshold_method": "[]"},
}


@pytest.mark.parametrize("values", BAD.values(), ids=BAD.keys())
def test_malformed_metadata_is_refused_with_the_field_named(tmp_path: Path, values: dict[str, str]) -> None:
    bad = with_props(DEMO, tmp_path / "bad.onnx", **values)
    with pytest.raises(BundleError) as info:
        load_bundle(bad)
    assert f"inspector.{next(iter(values))}" in info.value.message and info.value.fix


def test_batch_with_malformed_metadata_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = with_props(DEMO, tmp_path / "bad.onnx", input_size="128")
    Image.fromarray(np.full((32, 32, 3), 100, np.uint8)).save(tmp_path / "a.png")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "batch",
            str(tmp_path / "a.png"),
            "--model",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "inspector.input_size" in proc.stderr and "fix:" in proc.stderr
