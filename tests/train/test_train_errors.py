"""Bad datasets, backbones and weights: one clear message naming the thing, exit status 2, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.cli import main
from inspector.synthetic import write_dataset

torch = pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", size=(64, 64), n_train=4, n_val=2, n_test=2, n_defect=2, seed=1)


def _first(folder: Path, pattern: str) -> Path:
    return sorted(folder.rglob(pattern))[0]


def _corrupt_image(data: Path) -> str:
    target = _first(data / "images" / "good", "*.png")
    target.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return target.name


def _zero_byte(data: Path) -> str:
    target = _first(data / "images" / "good", "*.png")
    target.write_bytes(b"")
    return target.name


def _mask_size(data: Path) -> str:
    mask = _first(data / "masks", "*.png")
    cv2.imwrite(str(mask), np.zeros((10, 12), np.uint8))
    return mask.name


def _empty(data: Path) -> str:
    shutil.rmtree(data)
    data.mkdir()
    return str(data)


def _missing(data: Path) -> str:
    shutil.rmtree(data)
    return str(data)


def _bad_manifest_split(data: Path) -> str:
    csv = data / "split.csv"
    lines = csv.read_text().splitlines()
    lines[1] = lines[1].replace(",train,", ",training,").replace(",val,", ",training,").replace(",test,", ",training,")
    csv.write_text("\n".join(lines) + "\n")
    return "training"


CASES = [
    # (id, break the dataset -> the word(s) the message must name, extra CLI args)
    ("unreadable image", _corrupt_image, []),
    ("zero-byte image", _zero_byte, []),
    ("mask size differs", _mask_size, []),
    ("empty folder", _empty, []),
    ("missing folder", _missing, []),
    ("unknown split value", _bad_manifest_split, []),
]


@pytest.mark.parametrize("case,breaker,extra", CASES, ids=[c[0] for c in CASES])
def test_bad_dataset_is_one_message(small_data: Path, tmp_path: Path, capsys, case, breaker, extra) -> None:
    named = breaker(small_data)
    code = main(
        [
            "train",
            "--data",
            str(small_data),
            "--out",
            str(tmp_path / "run"),
            "--image-size",
            "64",
            "--no-progress",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err
    assert "Traceback" not in err and err.startswith("error: ")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--backbone", "no_such_net"], "'no_such_net' is not a timm model"),
        (["--backbone", "resnet18"], "no offline pretrained weights for backbone 'resnet18'"),
        (["--method", "knn"], "invalid choice"),
        (["--image-size", "100"], "multiple of 32"),
        (["--target-frr", "1.5"], "between 0 and 1"),
    ],
)
def test_bad_options_are_named(small_data: Path, tmp_path: Path, capsys, args, expected) -> None:
    try:
        code = main(["train", "--data", str(small_data), "--out", str(tmp_path / "run"), "--no-progress", *args])
    except SystemExit as exc:  # argparse's own usage error
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err


def test_weights_that_do_not_fit_are_named(small_data: Path, tmp_path: Path, capsys) -> None:
    from safetensors.torch import save_file

    weights = tmp_path / "wrong.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3, 3, 3)}, str(weights))
    code = main(
        [
            "train",
            "--data",
            str(small_data),
            "--out",
            str(tmp_path / "run"),
            "--weights",
            str(weights),
            "--image-size",
            "64",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "do not fit backbone tf_efficientnet_lite0" in err and "wrong.safetensors" in err


def test_pickled_weights_are_refused(small_data: Path, tmp_path: Path, capsys) -> None:
    import pickle

    weights = tmp_path / "evil.pth"
    weights.write_bytes(pickle.dumps({"weight": object()}))
    code = main(
        [
            "train",
            "--data",
            str(small_data),
            "--out",
            str(tmp_path / "run"),
            "--weights",
            str(weights),
            "--image-size",
            "64",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "not a plain tensor state dict" in err


def test_same_seed_gives_the_same_model(small_data: Path, tmp_path: Path) -> None:
    from export.bundle_writer import build_bundle
    from training.run import load_run

    graphs = []
    for name in ("a", "b"):
        run = tmp_path / name
        assert (
            main(
                [
                    "train",
                    "--data",
                    str(small_data),
                    "--out",
                    str(run),
                    "--image-size",
                    "64",
                    "--no-progress",
                    "--method",
                    "patchcore",
                    "--seed",
                    "3",
                ]
            )
            == 0
        )
        summary, model = load_run(run)
        graphs.append(build_bundle(summary, model).graph.SerializeToString())
        assert (run / "model.safetensors").read_bytes() == (tmp_path / "a" / "model.safetensors").read_bytes()
    assert graphs[0] == graphs[1]  # identical graph and weights; only the creation time differs in metadata
