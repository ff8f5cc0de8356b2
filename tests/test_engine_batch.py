"""Engine.prepare_batch resizes straight into one batch array; results equal the per-image path exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bundle_edit import with_props

from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.geometry import prepare

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo.onnx"
SHAPES = [(300, 200, 3), (2048, 2448, 3), (90, 100, 3), (128, 128, 3)]  # shrink, 5 MP, enlarge, model size


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, shape, np.uint8) for shape in SHAPES]
    frames.append(frames[1][100:700, 50:900])  # an ROI view: not contiguous in memory
    return frames


@pytest.fixture(params=["stretch", "letterbox"])
def engine(request, tmp_path) -> Engine:
    path = DEMO if request.param == "stretch" else with_props(DEMO, tmp_path / "letterbox.onnx", resize="letterbox")
    return Engine(load_bundle(path), max_batch=2)


def test_prepare_batch_equals_prepare_image_by_image(engine: Engine) -> None:
    frames = _frames()
    meta = engine.bundle.metadata
    batch = engine.prepare_batch(frames)
    expected = np.stack([prepare(f, engine.input_size, meta.resize, meta.alignment) for f in frames])
    assert batch.dtype == np.uint8 and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, expected)


def test_inspect_results_equal_the_session_on_stacked_inputs(engine: Engine) -> None:
    """Scores and maps of inspect() (micro-batches of 2 over 5 images) are those of one plain session run."""
    frames = _frames()
    meta = engine.bundle.metadata
    stacked = np.stack([prepare(f, engine.input_size, meta.resize, meta.alignment) for f in frames])
    scores, maps = engine.bundle.session.run(["score", "anomaly_map"], {"image": stacked})
    results = engine.inspect(frames)
    np.testing.assert_array_equal([r.score for r in results], scores)
    np.testing.assert_array_equal(np.stack([r.anomaly_map for r in results]), maps)


def test_one_micro_batch_is_returned_without_a_copy_and_bad_images_are_named(engine: Engine) -> None:
    outputs = engine.infer(engine.prepare_batch(_frames()[:2]))
    assert outputs["score"].shape == (2,) and outputs["anomaly_map"].shape == (2, *engine.input_size)
    with pytest.raises(ValueError, match="expected a uint8 RGB HxWx3 image"):
        engine.prepare_batch([np.zeros((64, 64), np.uint8)])
    with pytest.raises(ValueError, match="expected a uint8 RGB HxWx3 image"):
        engine.inspect([np.zeros((64, 64, 3), np.float32)])
