"""The good images that set the threshold: listed in run.json, the report and the train output, for review."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

from inspector.cli import main
from training.calibration import highest_good

IMAGES = [("a.png", "train"), ("b.png", "train"), ("c.png", "val"), ("d.png", "val")]


@pytest.mark.parametrize(
    ("scores", "threshold", "count", "expected"),
    [
        ([1.0, 4.0, 3.0, 2.0], 3.0, 5, [("b.png", True), ("c.png", True), ("d.png", False), ("a.png", False)]),
        ([1.0, np.nan, 3.0, 2.0], 2.5, 2, [("c.png", True), ("d.png", False)]),  # not scored: never listed
        ([2.0, 2.0, 1.0, np.nan], 2.0, 2, [("a.png", True), ("b.png", True)]),  # ties keep the images' order
        ([np.nan] * 4, 0.0, 5, []),
    ],
)
def test_highest_good(scores: list[float], threshold: float, count: int, expected: list) -> None:
    rows = highest_good(np.array(scores, np.float32), IMAGES, threshold, count)
    assert [(r["image"], r["at_or_above_threshold"]) for r in rows] == expected
    assert all(r["split"] == dict(IMAGES)[r["image"]] for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def _mislabel_one_defect(data: Path) -> str:
    """A validation defect relabelled good (the usual labelling slip); returns its manifest path."""
    manifest = data / "split.csv"
    rows = list(csv.DictReader(manifest.open()))
    slip = next(r for r in rows if r["split"] == "val" and r["label"] == "spot")
    slip.update(label="good", mask="")
    with manifest.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return slip["image"]


def test_a_defect_labelled_good_heads_the_list(tmp_path: Path, capsys) -> None:
    from inspector.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", size=(96, 96), n_train=16, n_val=8, n_test=8, n_defect=4, seed=0)
    slip = _mislabel_one_defect(data)
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--image-size", "64", "--method", "padim"]
    assert main([*args, "--target-frr", "0.1", "--no-progress"]) == 0

    summary = json.loads((run / "run.json").read_text())
    setters, deployed = summary["threshold_setters"], summary["thresholds"]["deployed"]
    assert Path(setters[0]["image"]) == (data / slip).resolve()  # absolute: the report is read elsewhere
    assert setters[0]["split"] == "val" and setters[0]["at_or_above_threshold"]
    assert setters[0]["score"] == pytest.approx(max(deployed["good_scores"]), abs=1e-3)
    assert len(setters) == 5 and all(s["split"] in ("train", "val") for s in setters)
    report = (run / "report.md").read_text()
    assert "## The good images that set the threshold" in report and Path(slip).name in report
    assert "the good images that set it" in capsys.readouterr().out
