"""A tiled, non-square bundle end to end: a defect on a tile seam is found, maps come back at native size,
and batch runs it with no knowledge of the tiling (the live pipeline: tests/live/test_tiled_live.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.bundle.session import load_bundle
from inspector.cli import main
from inspector.engine import Engine
from inspector.synthetic import make_part

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

SIZE = (64, 384)  # the tiled_bundle fixture's 6:1 strips


def _seam_part(seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A good strip with a dark spot where the first two tiles overlap (columns 56..64)."""
    image = make_part(np.random.default_rng(seed), size=SIZE).image.copy()
    centre = (60, 32)  # x, y
    cv2.circle(image, centre, 5, (20, 20, 20), -1)
    return image, (centre[1], centre[0])


def test_the_model_tiles_and_its_bundle_takes_the_whole_strip(tiled_bundle) -> None:
    path, summary, _ = tiled_bundle
    geometry = summary.geometry
    assert geometry["tile"] == [64, 64] or tuple(geometry["tile"]) == (64, 64)
    assert geometry["num_tiles"] == 7 and summary.image_size == SIZE
    bundle = load_bundle(path)
    assert bundle.input_size == SIZE and bundle.metadata.resize == "letterbox"


def test_tiles_were_measured_against_one_view_on_the_same_synthetic_defects(tiled_bundle) -> None:
    """The rule proposes tiles; the one view was fitted and judged too, and lost (its 0.42x view shrinks the
    small defects away)."""
    _, summary, _ = tiled_bundle
    candidates = summary.details["method_selection"]["candidates"]
    assert set(candidates) == {"patchcore", "padim", "patchcore, one view", "padim, one view"}
    assert summary.details["geometry_rule"].startswith(f"tiles: {summary.method} won against the one-view candidates")
    tiled, one = candidates[summary.method], candidates[summary.method + ", one view"]
    assert tiled["val_detection_rate"] > one["val_detection_rate"]
    assert tiled["synthetic_detection_rate"] > one["synthetic_detection_rate"]


def test_a_defect_on_a_tile_seam_is_found_and_the_map_is_at_native_size(tiled_bundle) -> None:
    path, _, _ = tiled_bundle
    engine = Engine(load_bundle(path))
    goods = [make_part(np.random.default_rng(100 + i), size=SIZE).image for i in range(4)]
    seam, (y, x) = _seam_part(7)
    results = engine.inspect([*goods, seam])
    assert all(r.anomaly_map.shape == SIZE for r in results)
    assert results[-1].score > max(r.score for r in results[:-1])
    peak = np.unravel_index(np.argmax(results[-1].anomaly_map), SIZE)
    assert abs(peak[0] - y) <= 12 and abs(peak[1] - x) <= 12


def test_batch_runs_the_tiled_bundle(tiled_bundle, tmp_path) -> None:
    path, _, _ = tiled_bundle
    folder = tmp_path / "in"
    folder.mkdir()
    seam, _ = _seam_part(8)
    cv2.imwrite(str(folder / "seam.png"), cv2.cvtColor(seam, cv2.COLOR_RGB2BGR))
    short = make_part(np.random.default_rng(9), size=(64, 300)).image  # a shorter strip: letterboxed, not stretched
    cv2.imwrite(str(folder / "short.png"), cv2.cvtColor(short, cv2.COLOR_RGB2BGR))
    assert (
        main(["batch", str(folder), "--model", str(path), "--out", str(tmp_path / "out"), "--save-heatmaps", "all"])
        == 0
    )
    with open(tmp_path / "out" / "results.csv") as f:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(f)}
    assert set(rows) == {"seam.png", "short.png"} and all(not r["error"] for r in rows.values())
    heatmaps = sorted((tmp_path / "out" / "heatmaps").iterdir())
    assert len(heatmaps) == 2 and all(cv2.imread(str(p)).shape[:2] == SIZE for p in heatmaps)


@pytest.mark.parametrize("method", ["padim", "patchcore"])
def test_each_method_tiles_exports_with_parity_and_finds_the_seam_defect(tiled_bundle, tmp_path, method) -> None:
    """PaDiM on tiles models a tile's positions, shared by every tile; either method's tiled bundle passes the
    parity gate (inside export) and finds a defect on a seam."""
    from export.cli import export_run
    from training.anomaly import AnomalyConfig, train_anomaly

    _, _, data = tiled_bundle
    cfg = AnomalyConfig(
        data=data, out=tmp_path / "run", image_size=64, coreset_size=256, target_frr=0.1, method=method, progress=False
    )
    summary = train_anomaly(cfg)
    assert summary.method == method and summary.geometry["num_tiles"] == 7
    export_run(tmp_path / "run", tmp_path / "model.onnx")
    bundle = load_bundle(tmp_path / "model.onnx")
    assert bundle.metadata.method == method and bundle.input_size == SIZE
    goods = [make_part(np.random.default_rng(200 + i), size=SIZE).image for i in range(4)]
    seam, (y, x) = _seam_part(11)
    results = Engine(bundle).inspect([*goods, seam])
    assert all(r.anomaly_map.shape == SIZE for r in results)
    assert results[-1].score > max(r.score for r in results[:-1])
    peak = np.unravel_index(np.argmax(results[-1].anomaly_map), SIZE)
    assert abs(peak[0] - y) <= 12 and abs(peak[1] - x) <= 12
