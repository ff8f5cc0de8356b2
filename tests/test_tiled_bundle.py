"""A tiled, non-square bundle end to end: a defect on a tile seam is found, maps come back at native size,
and batch and the live pipeline run it with no knowledge of the tiling."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.cli import main
from inspector.engine import Engine
from inspector.live.config import CameraConfig
from inspector.live.pipeline import Pipeline
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink
from inspector.model import load_bundle
from inspector.synthetic import make_part, write_dataset

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

SIZE = (64, 384)  # 6:1 strips; at a 64 px base one view would shrink them 2.4x, so the model tiles


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> tuple[Path, dict, Path]:
    from export.cli import export_run
    from training.anomaly import AnomalyConfig, train_anomaly

    tmp = tmp_path_factory.mktemp("tiled")
    data = write_dataset(tmp / "data", size=SIZE, n_train=12, n_val=6, n_test=6, n_defect=3, seed=0)
    summary = train_anomaly(AnomalyConfig(data=data, out=tmp / "run", image_size=64, coreset_size=256,
                                          target_frr=0.1, progress=False))
    export_run(tmp / "run", tmp / "tiled.onnx")
    return tmp / "tiled.onnx", summary, data


def _seam_part(seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A good strip with a dark spot where the first two tiles overlap (columns 56..64)."""
    image = make_part(np.random.default_rng(seed), size=SIZE).image.copy()
    centre = (60, 32)  # x, y
    cv2.circle(image, centre, 5, (20, 20, 20), -1)
    return image, (centre[1], centre[0])


def test_the_model_tiles_and_its_bundle_takes_the_whole_strip(tiled) -> None:
    path, summary, _ = tiled
    geometry = summary["geometry"]
    assert geometry["tile"] == [64, 64] or tuple(geometry["tile"]) == (64, 64)
    assert geometry["num_tiles"] == 7 and tuple(summary["image_size"]) == SIZE
    bundle = load_bundle(path)
    assert bundle.input_size == SIZE and bundle.metadata.resize == "letterbox"


def test_a_defect_on_a_tile_seam_is_found_and_the_map_is_at_native_size(tiled) -> None:
    path, _, data = tiled
    engine = Engine(load_bundle(path))
    goods = [make_part(np.random.default_rng(100 + i), size=SIZE).image for i in range(4)]
    seam, (y, x) = _seam_part(7)
    results = engine.inspect(goods + [seam])
    assert all(r.anomaly_map.shape == SIZE for r in results)
    assert results[-1].score > max(r.score for r in results[:-1])
    peak = np.unravel_index(np.argmax(results[-1].anomaly_map), SIZE)
    assert abs(peak[0] - y) <= 12 and abs(peak[1] - x) <= 12


def test_batch_runs_the_tiled_bundle(tiled, tmp_path) -> None:
    path, _, data = tiled
    folder = tmp_path / "in"
    folder.mkdir()
    seam, _ = _seam_part(8)
    cv2.imwrite(str(folder / "seam.png"), cv2.cvtColor(seam, cv2.COLOR_RGB2BGR))
    short = make_part(np.random.default_rng(9), size=(64, 300)).image  # a shorter strip: letterboxed, not stretched
    cv2.imwrite(str(folder / "short.png"), cv2.cvtColor(short, cv2.COLOR_RGB2BGR))
    assert main(["batch", str(folder), "--model", str(path), "--out", str(tmp_path / "out"), "--save-heatmaps", "all"]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader(open(tmp_path / "out" / "results.csv"))}
    assert set(rows) == {"seam.png", "short.png"} and all(not r["error"] for r in rows.values())
    heatmaps = sorted((tmp_path / "out" / "heatmaps").iterdir())
    assert len(heatmaps) == 2 and all(cv2.imread(str(p)).shape[:2] == SIZE for p in heatmaps)


class ListSink(Sink):
    kind = "list"

    def __init__(self) -> None:
        super().__init__(queue_size=256)
        self.records: list[FrameRecord] = []

    def write(self, record: FrameRecord) -> None:
        self.records.append(record)


def test_the_live_pipeline_runs_the_tiled_bundle(tiled, tmp_path) -> None:
    path, _, data = tiled
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(3):
        part = make_part(np.random.default_rng(200 + i), size=SIZE).image
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
    sink = ListSink()
    camera = CameraConfig(id="strip", kind="folder", source={"path": str(folder), "fps": 20.0, "loop": True},
                          max_fps=1000.0)
    pipeline = Pipeline(Engine(load_bundle(path)), [camera], [sink], station="t")
    pipeline.start()
    try:
        deadline = time.monotonic() + 30
        while len(sink.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pipeline.stop(3.0)
    assert len(sink.records) >= 3
    assert all(r.result.anomaly_map.shape == SIZE for r in sink.records)
