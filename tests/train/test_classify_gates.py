"""Verdict gates for classify bundles (issue 10 item 1): `inspector train --task classify` calibrates the image-quality
and frame gates from its training images and `inspector export` writes them, so the runtime (real onnxruntime
Engine) calls a black frame UNSURE `dark`, a blurred one UNSURE `focus`, and still judges a training-like part."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.cli import main

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
pytest.importorskip("timm", reason="needs the 'train' extra (torch, timm)")
SIZE = 64


@pytest.fixture(scope="module")
def classify_gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny classify run (good/crack/scratch/spot, 1 epoch at 64 px) and its exported bundle."""
    from inspector.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("classify_gates")
    data = write_dataset(
        folder / "data", layout="folders", size=(80, 96), n_train=8, n_val=3, n_test=3, n_defect=5, seed=3
    )
    run, bundle = folder / "run", folder / "classify.onnx"
    args = ["--image-size", str(SIZE), "--batch-size", "8", "--epochs", "1", "--target-frr", "0.2", "--no-progress"]
    assert main(["train", "--data", str(data), "--task", "classify", "--out", str(run), *args]) == 0
    assert main(["export", str(run), "--out", str(bundle)]) == 0
    return data, bundle


def test_a_classify_bundle_carries_gates_and_a_black_or_blurred_frame_is_unsure(
    classify_gated: tuple[Path, Path],
) -> None:
    from inspector.bundle.session import load_bundle
    from inspector.engine import Engine
    from inspector.imageio import read_image
    from inspector.verdict import Reason, Verdict

    data, bundle_path = classify_gated
    run = json.loads((bundle_path.parent / "run" / "run.json").read_text())
    gates = run["gates"]
    assert gates["calibration"]["images"] == run["counts"]["train"] and gates["min_focus"] > 0
    assert gates["frame"]["min_size"] == [40, 48]  # half the 80x96 training images
    bundle = load_bundle(bundle_path)
    assert bundle.metadata.task == "classify" and bundle.metadata.gates == gates
    engine = Engine(bundle)
    part = read_image(sorted((data / "good").glob("*.png"))[0])
    black = np.zeros_like(part)
    blurred = cv2.GaussianBlur(part, (0, 0), 6)
    small = part[:20, :24]
    judged, dark, soft, tiny = engine.inspect([part, black, blurred, small])
    assert judged.verdict in (Verdict.OK, Verdict.NG) and judged.reason is None
    assert (dark.verdict, dark.reason) == (Verdict.UNSURE, Reason.DARK)
    assert (soft.verdict, soft.reason) == (Verdict.UNSURE, Reason.FOCUS) and "focus" in soft.reason_detail
    assert (tiny.verdict, tiny.reason) == (Verdict.UNSURE, Reason.SIZE)
