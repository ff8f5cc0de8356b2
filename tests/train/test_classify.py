"""Defect classification: train -> export -> batch on synthetic parts, for a CNN and two Transformers;
resume from a safetensors checkpoint; refusal of pickle checkpoints and unusable data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from inspector.cli import main

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
pytest.importorskip("timm", reason="needs the 'train' extra (torch, timm)")
SIZE = 64


@pytest.fixture(scope="session")
def classify_data(tmp_path_factory) -> Path:
    """Class folders good/crack/scratch/spot (split per class by a seeded ratio: train, val and test)."""
    from inspector.synthetic import write_dataset

    return write_dataset(
        tmp_path_factory.mktemp("classify") / "data",
        layout="folders",
        size=(80, 96),
        n_train=8,
        n_val=3,
        n_test=3,
        n_defect=5,
        seed=1,
    )


def _train(data: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "train",
            "--data",
            str(data),
            "--task",
            "classify",
            "--out",
            str(out),
            "--image-size",
            str(SIZE),
            "--batch-size",
            "8",
            "--target-frr",
            "0.2",
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory, classify_data) -> Path:
    run = tmp_path_factory.mktemp("cnn") / "run"
    assert _train(classify_data, run, "--epochs", "2") == 0
    return run


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite0", "tf_efficientnet_lite0+attention", "vit_tiny_patch16_224"])
def test_train_export_batch_end_to_end(arch: str, request, classify_data: Path, tmp_path: Path) -> None:
    if arch == "tf_efficientnet_lite0":
        run = request.getfixturevalue("cnn_run")
    else:
        run = tmp_path / "run"
        assert _train(classify_data, run, "--arch", arch, "--epochs", "1") == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["task"] == "classify" and summary["class_names"] == ["good", "crack", "scratch", "spot"]
    for name in ("model.safetensors", "checkpoint.safetensors", "augment.json", "report.md", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert "transform" in json.loads((run / "augment.json").read_text())  # A.to_dict of the pipeline
    metrics = summary["metrics"]
    assert {
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion_matrix",
        "detection_rate",
        "false_reject_rate",
        "image_auroc",
    } <= set(metrics)

    bundle = tmp_path / "model.onnx"
    assert main(["export", str(run), "--out", str(bundle)]) == 0
    from inspector.bundle.session import load_bundle
    from inspector.engine import Engine

    loaded = load_bundle(bundle)
    assert loaded.metadata.task == "classify" and loaded.metadata.class_names == summary["class_names"]
    assert loaded.metadata.threshold == pytest.approx(summary["threshold"])
    image = np.random.default_rng(0).integers(0, 255, (2, 70, 90, 3), dtype=np.uint8)
    outputs = Engine(loaded).infer(np.stack([Engine(loaded).prepare(x) for x in image]))
    assert outputs["probs"].shape == (2, 4) and np.allclose(outputs["probs"].sum(1), 1, atol=1e-5)
    assert np.allclose(outputs["score"], 1 - outputs["probs"][:, 0], atol=1e-6)
    assert outputs["anomaly_map"].shape == (2, SIZE, SIZE)
    assert outputs["anomaly_map"].min() >= 0 and outputs["anomaly_map"].max() <= 1 + 1e-6

    out = tmp_path / "batch"
    assert main(["batch", str(classify_data), "--model", str(bundle), "--out", str(out), "--split", "test"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == summary["counts"]["test"]
    assert all(r["predicted_class"] in summary["class_names"] for r in rows)
    batch_metrics = json.loads((out / "metrics.json").read_text())["classification"]
    # the exported bundle reproduces the torch model's test metrics
    assert batch_metrics["accuracy"] == pytest.approx(metrics["accuracy"])
    assert batch_metrics["confusion_matrix"] == metrics["confusion_matrix"]


def test_resume_continues_from_the_safetensors_checkpoint(cnn_run: Path, classify_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "resumed"
    import shutil

    shutil.copytree(cnn_run, run)
    assert _train(classify_data, run, "--epochs", "3", "--resume", str(run)) == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["epochs_run"] == 3 and [h["epoch"] for h in summary["history"]] == [1, 2, 3]
    first = json.loads((cnn_run / "run.json").read_text())["history"]
    assert summary["history"][:2] == first  # the first two epochs come from the checkpoint


@pytest.mark.parametrize("name", ["checkpoint.pt", "checkpoint.pth", "disguised.safetensors"])
def test_pickle_checkpoint_is_refused(name: str, classify_data: Path, tmp_path: Path, capsys) -> None:
    import torch

    path = tmp_path / name
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    assert _train(classify_data, tmp_path / "run", "--epochs", "1", "--resume", str(path)) == 2
    err = capsys.readouterr().err
    assert "pickle" in err and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_dataset_without_defects_in_train_is_refused(tmp_path: Path, capsys) -> None:
    from inspector.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", size=(64, 64), n_train=4, n_val=2, n_test=2, n_defect=1, seed=0)
    assert _train(data, tmp_path / "run", "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "training split" in err and "--task anomaly" in err


def test_unknown_arch_and_missing_weights_are_named(classify_data: Path, tmp_path: Path, capsys) -> None:
    assert _train(classify_data, tmp_path / "a", "--arch", "no_such_net") == 2
    assert "no_such_net" in capsys.readouterr().err
    assert _train(classify_data, tmp_path / "b", "--arch", "resnet18") == 2
    assert "--weights" in capsys.readouterr().err


def test_mixed_sizes_and_grayscale_reach_the_model_as_rgb_at_its_size(tmp_path: Path) -> None:
    import cv2

    from inspector.data.dataset import Sample
    from training.classify_data import ImageSet, load_augment
    from training.images import load_samples

    files = {
        "gray.png": np.full((50, 70), 90, np.uint8),
        "rgb.jpg": np.full((90, 60, 3), 200, np.uint8),
        "gray16.tif": np.full((40, 40), 30000, np.uint16),
    }
    for name, array in files.items():
        cv2.imwrite(str(tmp_path / name), array)
    samples = [Sample(tmp_path / name, "good", "train") for name in files]
    images, _ = load_samples(samples, (SIZE, SIZE))
    items = [ImageSet(images, [0, 0, 0], load_augment(None))[i][0] for i in range(3)]
    assert all(tuple(x.shape) == (SIZE, SIZE, 3) and str(x.dtype) == "torch.uint8" for x in items)


def test_augment_file_of_knobs_and_bad_preset(tmp_path: Path) -> None:
    from inspector.errors import InspectorError
    from training.classify_data import augment_json, load_augment

    knobs = tmp_path / "aug.json"
    knobs.write_text(json.dumps({"rot90": False, "hflip": False, "vflip": False, "noise_p": 0.0}))
    names = [
        t["__class_fullname__"] for t in json.loads(augment_json(load_augment(str(knobs))))["transform"]["transforms"]
    ]
    assert "RandomRotate90" not in names and "HorizontalFlip" not in names and "GaussNoise" not in names
    saved = tmp_path / "saved.json"
    saved.write_text(augment_json(load_augment(None)))
    assert augment_json(load_augment(str(saved))) == saved.read_text()  # a run's augment.json loads back
    with pytest.raises(InspectorError, match="neither a preset"):
        load_augment("strong")
