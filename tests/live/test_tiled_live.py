"""The live pipeline runs a tiled 6:1 bundle from a folder camera; maps come back at the strip's size."""

from __future__ import annotations

import cv2
import numpy as np
from test_camera import wait_for
from test_pipeline import ListSink

from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.live.config import CameraConfig
from inspector.live.pipeline import Pipeline
from inspector.synthetic import make_part


def test_the_live_pipeline_runs_the_tiled_bundle(tiled_bundle, tmp_path) -> None:
    path, summary, _ = tiled_bundle
    size = summary.image_size
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(3):
        part = make_part(np.random.default_rng(200 + i), size=size).image
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
    sink = ListSink()
    camera = CameraConfig(
        id="strip", kind="folder", source={"path": str(folder), "fps": 20.0, "loop": True}, max_fps=1000.0
    )
    pipeline = Pipeline(Engine(load_bundle(path)), [camera], [sink], station="t")
    pipeline.start()
    try:
        assert wait_for(lambda: len(sink.records) >= 3, timeout=30)
    finally:
        pipeline.stop(3.0)
    assert all(r.result.anomaly_map.shape == size for r in sink.records)
