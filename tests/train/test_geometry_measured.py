"""Tiling is measured, not assumed: on large parts whose defects are broad, soft stains, the one view wins.

Goods are 256x256 surfaces with a random brightness gradient and speckle; defects are dark stains a fifth of
the part across with edges about 15 px soft. At a 64 px base the rule proposes 25 native tiles, where each
patch sees a gentle slope like the goods' own; the 0.25x view sees the stain whole. The selection has to
find that, from real validation defects where there are some and from synthetic ones where there are none.
(The other way round, small defects on strips, tiles win: tests/export/test_tiled_bundle.py.)
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

from export.cli import export_run
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from training.anomaly import AnomalyConfig, train_anomaly

SIDE = 256


def _part(rng: np.random.Generator, stain: bool) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    angle = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(-30, 30) * 2 * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))
    image = 128 + slope + rng.normal(0, 12, (SIDE, SIDE))
    mask = np.zeros((SIDE, SIDE), bool)
    if stain:
        cy, cx = rng.uniform(0.3, 0.7, 2) * SIDE
        radius = rng.uniform(0.15, 0.22) * SIDE
        blob = 1 / (1 + np.exp((np.hypot(yy * SIDE - cy, xx * SIDE - cx) - radius) / (0.06 * SIDE)))
        image, mask = image - 45 * blob, blob > 0.5
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _write(root: Path, val_defects: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng, rows = np.random.default_rng(0), []
    for split, goods, stains in (("train", 16, 0), ("val", 8, val_defects), ("test", 8, 6)):
        for i in range(goods + stains):
            image, mask = _part(rng, stain=i >= goods)
            name = f"{split}_{i}.png"
            cv2.imwrite(str(root / "images" / name), image)
            if i >= goods:
                cv2.imwrite(str(root / "masks" / name), mask.astype(np.uint8) * 255)
            rows.append((f"images/{name}", "stain" if i >= goods else "good", split, f"masks/{name}" * (i >= goods)))
    with (root / "split.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["image", "label", "split", "mask"])
        writer.writerows(rows)
    return root


@pytest.mark.parametrize("val_defects", [4, 0], ids=["real-val-defects", "synthetic-only"])
def test_broad_stains_on_large_parts_ship_the_one_view(tmp_path: Path, val_defects: int) -> None:
    data = _write(tmp_path / "data", val_defects)
    run = tmp_path / "run"
    cfg = AnomalyConfig(data=data, out=run, image_size=64, coreset_size=256, target_frr=0.1, progress=False)
    summary = train_anomaly(cfg)

    candidates = summary.details["method_selection"]["candidates"]
    assert set(candidates) == {"patchcore", "padim", "patchcore, one view", "padim, one view"}  # tiles proposed
    assert summary.details["geometry_rule"].startswith("one view: ")
    assert summary.geometry["tile"] is None and summary.image_size == (64, 64)
    key = "val_detection_rate" if val_defects else "synthetic_detection_rate"
    assert candidates[summary.method + ", one view"][key] > candidates["patchcore"][key]
    assert summary.metrics["image_auroc"] >= 0.9

    export_run(run, tmp_path / "model.onnx")  # the parity gate runs inside
    bundle = load_bundle(tmp_path / "model.onnx")
    assert bundle.input_size == (64, 64) and not bundle.metadata.geometry.get("tile")
    frame = cv2.cvtColor(_part(np.random.default_rng(9), True)[0], cv2.COLOR_GRAY2RGB)
    (result,) = Engine(bundle).inspect([frame])
    assert result.anomaly_map.shape == (64, 64) and result.score > summary.threshold  # a fresh stained part: NG
