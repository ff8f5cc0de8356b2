"""Train -> export -> batch on synthetic parts, for both methods, through the real CLI verbs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from inspector.cli import main

pytestmark = pytest.mark.usefixtures("synthetic_data")


@pytest.mark.parametrize("fixture", ["patchcore_bundle", "padim_bundle"])
def test_train_export_batch_detects_synthetic_defects(
    fixture: str, request, synthetic_data: Path, tmp_path: Path
) -> None:
    run, bundle = request.getfixturevalue(fixture)
    summary = json.loads((run / "run.json").read_text())
    assert (run / "report.md").is_file() and (run / "roc.png").is_file() and (run / "score_histogram.png").is_file()
    assert summary["metrics"]["image_auroc"] >= 0.9
    assert set(summary["thresholds"]) == {"deployed", "f1_best"}
    assert "pixel_auroc" in summary["metrics"] and "aupro" in summary["metrics"]
    counts, deployed = summary["counts"], summary["thresholds"]["deployed"]
    val_goods = counts["fit_good"] - counts["train_good"]
    assert val_goods > 0 and deployed["n_val_good"] == val_goods  # every val good calibrates, out of fold
    assert f"the model fitted on {counts['fit_good']} good images" in (run / "report.md").read_text()

    out = tmp_path / "out"
    assert main(["batch", str(synthetic_data), "--model", str(bundle), "--out", str(out), "--split", "test"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == summary["counts"]["test"]
    assert {r["verdict"] for r in rows} <= {"OK", "NG"} and all(r["label"] for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    # the exported bundle reproduces the torch model's test metrics
    assert metrics["image_auroc"] == pytest.approx(summary["metrics"]["image_auroc"], abs=1e-6)
    assert metrics["detection_rate"] == pytest.approx(summary["metrics"]["detection_rate"], abs=1e-6)


def test_batch_on_a_plain_folder_writes_rows_without_labels(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    folder = synthetic_data / "images" / "crack"
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--model", str(bundle), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == len(list(folder.glob("*.png")))
    assert not (out / "metrics.json").exists()


def test_batch_reports_a_corrupt_image_as_an_error_row(patchcore_bundle, tmp_path: Path, capsys) -> None:
    import cv2

    _, bundle = patchcore_bundle
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "fine.png"), np.full((80, 90, 3), 128, np.uint8))
    (folder / "broken.jpg").write_text("not an image")
    assert main(["batch", str(folder), "--model", str(bundle), "--out", str(tmp_path / "out")]) == 1
    rows = {Path(r["path"]).name: r for r in csv.DictReader((tmp_path / "out" / "results.csv").open())}
    # a flat gray frame reads fine and gets a verdict: UNSURE, as nothing in it is sharp enough to judge
    fine = rows["fine.png"]
    assert fine["error"] == "" and (fine["verdict"], fine["reason"]) == ("UNSURE", "focus")
    assert rows["broken.jpg"]["verdict"] == "" and "broken.jpg" in rows["broken.jpg"]["error"]
    assert "Traceback" not in capsys.readouterr().err


def test_threshold_override_changes_verdicts(patchcore_bundle, synthetic_data: Path, tmp_path: Path) -> None:
    _, bundle = patchcore_bundle
    out = tmp_path / "out"
    assert (
        main(
            [
                "batch",
                str(synthetic_data),
                "--model",
                str(bundle),
                "--out",
                str(out),
                "--split",
                "test",
                "--threshold",
                "1e9",
            ]
        )
        == 0
    )
    assert {r["verdict"] for r in csv.DictReader((out / "results.csv").open())} == {"OK"}
