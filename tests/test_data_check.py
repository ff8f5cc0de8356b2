"""`inspector data check`: the report, its problems and the CLI's exit status."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.cli import main
from inspector.data.check import check_dataset, format_report
from inspector.data.dataset import load_dataset

REAL_DATASET = Path(__file__).resolve().parents[1].parent / "shared/datasets/magnetic-tile"


def write_image(path: Path, size: tuple[int, int], *, depth: int = 8, color: bool = True) -> None:
    """A random (height, width) image with unique content, in the format of its suffix."""
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    dtype = np.uint16 if depth == 16 else np.uint8
    array = rng.integers(0, np.iinfo(dtype).max, size + ((3,) if color else ()), endpoint=True).astype(dtype)
    assert cv2.imwrite(str(path), array)


def write_mask(path: Path, size: tuple[int, int]) -> None:
    mask = np.zeros(size, np.uint8)
    mask[1:4, 2:5] = 255
    assert cv2.imwrite(str(path), mask)


def make_manifest(root: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Write split.csv listing rows of (image, label, split, mask) already on disk."""
    lines = ["image,label,split,mask"] + [",".join(row) for row in rows]
    (root / "split.csv").write_text("\n".join(lines) + "\n")
    return root


def mixed_manifest(root: Path) -> Path:
    """A clean manifest dataset with 8/16-bit, grey/colour images of several sizes and formats."""
    root.mkdir(parents=True, exist_ok=True)
    write_image(root / "a.png", (20, 30), depth=16, color=False)
    write_image(root / "b.png", (20, 30), depth=16, color=True)
    write_image(root / "c.jpg", (40, 50))
    write_image(root / "d.bmp", (40, 50), color=False)
    write_image(root / "e.tif", (10, 60))
    write_image(root / "f.png", (24, 32))
    write_mask(root / "f_mask.png", (24, 32))
    rows = [
        ("a.png", "good", "train", ""),
        ("b.png", "good", "train", ""),
        ("c.jpg", "good", "val", ""),
        ("d.bmp", "good", "test", ""),
        ("e.tif", "dent", "val", ""),
        ("f.png", "dent", "test", "f_mask.png"),
    ]
    return make_manifest(root, rows)


def test_clean_report(tmp_path: Path) -> None:
    report = check_dataset(load_dataset(mixed_manifest(tmp_path)))
    assert report["problems"] == [] and report["layout"] == "manifest"
    assert report["counts"]["good"] == {"train": 2, "val": 1, "test": 1}
    assert report["counts"]["dent"] == {"train": 0, "val": 1, "test": 1}
    images = report["images"]
    assert images["bit_depth"] == {"8": 4, "16": 2}
    assert (images["grayscale"], images["colour"]) == (2, 4)
    assert images["width"] == {"min": 30, "median": 41.0, "max": 60}
    assert images["height"] == {"min": 10, "median": 22.0, "max": 40}
    assert images["distinct_sizes"] == 4
    assert report["warnings"] == []
    text = format_report(report)
    assert "result: clean" in text and "2 at 16-bit" in text


@pytest.mark.parametrize(
    "splits, labels, problem, warning",
    [
        (("train", "test"), ("good", "good"), "DUPLICATE ACROSS SPLITS", None),
        (("train", "val"), ("good", "good"), "DUPLICATE ACROSS SPLITS", None),
        (("test", "test"), ("good", "dent"), "duplicate with different labels", None),
        (("train", "train"), ("good", "good"), None, "duplicate within one split"),
    ],
)
def test_duplicates(
    tmp_path: Path, splits: tuple[str, str], labels: tuple[str, str], problem: str | None, warning: str | None
) -> None:
    mixed_manifest(tmp_path)
    write_image(tmp_path / "unlisted.png", (20, 30))
    shutil.copy(tmp_path / "unlisted.png", tmp_path / "copy_a.png")
    shutil.copy(tmp_path / "unlisted.png", tmp_path / "copy_b.png")
    csv = tmp_path / "split.csv"
    csv.write_text(csv.read_text() + f"copy_a.png,{labels[0]},{splits[0]},\ncopy_b.png,{labels[1]},{splits[1]},\n")
    report = check_dataset(load_dataset(tmp_path))
    relevant = [p for p in report["problems"] if "copy_b.png" in p]
    if problem:
        assert len(relevant) == 1 and problem in relevant[0] and "copy_a.png" in relevant[0]
    else:
        assert relevant == [] and any(warning in w and "copy_b.png" in w for w in report["warnings"])
    (group,) = [d for d in report["duplicates"] if any(f["path"] == "copy_b.png" for f in d["files"])]
    assert [f["path"] for f in group["files"]] == ["copy_a.png", "copy_b.png"]
    assert group["cross_split"] == (splits[0] != splits[1])


def test_unreadable_files_and_mask_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mixed_manifest(tmp_path)
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "zero.png").write_bytes(b"")
    write_image(tmp_path / "g.png", (24, 32))
    write_mask(tmp_path / "g_mask.png", (12, 16))
    csv = tmp_path / "split.csv"
    csv.write_text(csv.read_text() + "text.png,good,train,\nzero.png,good,test,\ng.png,dent,test,g_mask.png\n")
    report = check_dataset(load_dataset(tmp_path))
    reasons = {u["path"]: u["reason"] for u in report["unreadable"]}
    assert set(reasons) == {"text.png", "zero.png"}
    assert "not a readable image" in reasons["text.png"] and "empty file" in reasons["zero.png"]
    assert report["mask_size_mismatch"] == [
        {"mask": "g_mask.png", "image": "g.png", "mask_size": [16, 12], "image_size": [32, 24]}
    ]
    assert report["images"]["readable"] == report["samples"] - 2
    assert main(["data", "check", "--data", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS (3)" in out and "text.png" in out and "g_mask.png is 16x12" in out


def test_cli_clean_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = mixed_manifest(tmp_path / "data")
    out_json = tmp_path / "report.json"
    assert main(["data", "check", "--data", str(data), "--json", str(out_json), "--seed", "1"]) == 0
    assert "result: clean" in capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert report["samples"] == 6 and report["problems"] == []


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: (root / "split.csv").write_text("image,split\n") and root, "missing column(s) label"),
    ],
)
def test_cli_dataset_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], build, expected: str
) -> None:
    assert main(["data", "check", "--data", str(build(tmp_path))]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and expected in captured.err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.dataset
def test_real_magnetic_tile_is_clean() -> None:
    if not (REAL_DATASET / "split.csv").is_file():
        pytest.skip(f"real dataset not present at {REAL_DATASET}")
    report = check_dataset(load_dataset(REAL_DATASET))
    assert report["samples"] == 1344 and report["unreadable"] == [] and report["mask_size_mismatch"] == []
    assert report["images"]["grayscale"] == 1344


def test_missing_splits_are_warned(tmp_path: Path) -> None:
    for name in ("g1.png", "g2.png", "d1.png", "d2.png"):
        write_image(tmp_path / name, (8, 8))
    make_manifest(
        tmp_path,
        [
            ("g1.png", "good", "train", ""),
            ("g2.png", "good", "train", ""),
            ("d1.png", "dent", "train", ""),
            ("d2.png", "dent", "val", ""),
        ],
    )
    report = check_dataset(load_dataset(tmp_path))
    assert report["problems"] == []
    assert report["warnings"] == ["label 'good' has no val or test images", "label 'dent' has no test images"]
