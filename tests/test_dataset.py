"""Dataset discovery: the three layouts, seeded splits, fingerprints and every DatasetError."""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.data.dataset import Dataset, Sample, load_dataset, validate_samples
from inspector.errors import DatasetError

_counter = itertools.count()
REAL_DATASET = Path(__file__).resolve().parents[1].parent / "shared/datasets/magnetic-tile"


def write_image(path: Path, size: tuple[int, int] = (24, 32), *, depth: int = 8, color: bool = True) -> Path:
    """A small random image (height, width) with unique content, written in the format of its suffix."""
    rng = np.random.default_rng(next(_counter))
    shape = size + ((3,) if color else ())
    dtype, high = (np.uint16, 65535) if depth == 16 else (np.uint8, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rng.integers(0, high, shape, endpoint=True).astype(dtype))
    return path


def write_mask(path: Path, size: tuple[int, int] = (24, 32)) -> Path:
    mask = np.zeros(size, np.uint8)
    mask[2:6, 3:9] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), mask)
    return path


def make_manifest(
    root: Path, rows: list[tuple[str, str, str, str]] | None = None, header: str = "image,label,split,mask"
) -> Path:
    """A manifest dataset; rows are (image, label, split, mask) and the files listed are created."""
    if rows is None:
        rows = [(f"img/good/{i}.png", "good", "train", "") for i in range(6)]
        rows += [("img/good/v.png", "good", "val", ""), ("img/good/t.png", "good", "test", "")]
        rows += [("img/scratch/s.jpg", "scratch", "test", "masks/s.png"), ("img/dent/d.bmp", "dent", "val", "")]
    for image, _, _, mask in rows:
        if image and not (root / image).exists():
            write_image(root / image)
        if mask and not (root / mask).exists():
            write_mask(root / mask)
    lines = [header] + [",".join(row) for row in rows]
    (root / "split.csv").write_text("\n".join(lines) + "\n")
    return root


def make_mvtec(root: Path, n_train: int = 10) -> Path:
    for i in range(n_train):
        write_image(root / "train/good" / f"{i:03d}.png")
    for i in range(3):
        write_image(root / "test/good" / f"{i:03d}.png")
        write_image(root / "test/crack" / f"{i:03d}.png")
    write_mask(root / "ground_truth/crack/000_mask.png")
    write_mask(root / "ground_truth/crack/001_mask.png")  # 002 has no mask
    (root / "license.txt").write_text("CC BY-NC-SA\n")
    return root


def make_folders(root: Path, n_good: int = 10, n_defect: int = 5) -> Path:
    for i in range(n_good):
        write_image(root / "good" / f"g{i:02d}.png")
    for i in range(n_defect):
        write_image(root / "scratch" / ("deep" if i % 2 else "") / f"s{i:02d}.jpg")
    write_mask(root / "masks/scratch/s00.png")
    write_mask(root / "masks/scratch/deep/s01.png")
    return root


def split_counts(dataset: Dataset) -> dict[tuple[str, str], int]:
    return dict(Counter((s.label, s.split) for s in dataset.samples))


@pytest.mark.parametrize(
    "builder, layout, expected",
    [
        (
            make_manifest,
            "manifest",
            {("good", "train"): 6, ("good", "val"): 1, ("good", "test"): 1, ("scratch", "test"): 1, ("dent", "val"): 1},
        ),
        (make_mvtec, "mvtec", {("good", "train"): 8, ("good", "val"): 2, ("good", "test"): 3, ("crack", "test"): 3}),
        (
            make_folders,
            "folders",
            {
                ("good", "train"): 6,
                ("good", "val"): 2,
                ("good", "test"): 2,
                ("scratch", "train"): 3,
                ("scratch", "val"): 1,
                ("scratch", "test"): 1,
            },
        ),
    ],
)
def test_layouts_detected_and_split(
    tmp_path: Path, builder: Callable[[Path], Path], layout: str, expected: dict
) -> None:
    dataset = load_dataset(builder(tmp_path))
    assert dataset.layout == layout
    assert split_counts(dataset) == expected
    assert dataset.labels[0] == "good"
    assert dataset.splits == ["train", "val", "test"]
    assert all(s.path.is_file() for s in dataset.samples)


@pytest.mark.parametrize("builder", [make_mvtec, make_folders])
def test_seeded_splits_are_deterministic(tmp_path: Path, builder: Callable[[Path], Path]) -> None:
    root = builder(tmp_path, 40)
    runs = [[(s.path, s.split) for s in load_dataset(root, seed=seed).samples] for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_manifest_masks_and_paths(tmp_path: Path) -> None:
    dataset = load_dataset(make_manifest(tmp_path))
    (scratch,) = dataset.select(label="scratch")
    assert scratch.mask == tmp_path / "masks/s.png" and scratch.defect_type == "scratch" and not scratch.is_good
    assert dataset.has_masks and dataset.defect_types == ["dent", "scratch"]
    # the manifest file itself may be given instead of its folder
    assert load_dataset(tmp_path / "split.csv").samples == dataset.samples


def test_manifest_without_val_holds_back_good_train(tmp_path: Path) -> None:
    rows = [(f"g{i}.png", "good", "train", "") for i in range(10)] + [("d.png", "dent", "test", "")]
    dataset = load_dataset(make_manifest(tmp_path, rows))
    val = dataset.select(split="val")
    assert len(val) == 2 and all(s.is_good for s in val)
    assert len(dataset.select("train", good=True)) == 8
    assert [s.path for s in val] == [s.path for s in load_dataset(tmp_path).select(split="val")]


@pytest.mark.parametrize("n_train, n_val", [(1, 0), (2, 1), (3, 1), (10, 2), (20, 4)])
def test_mvtec_val_hold_back_size(tmp_path: Path, n_train: int, n_val: int) -> None:
    dataset = load_dataset(make_mvtec(tmp_path, n_train))
    assert len(dataset.select("val")) == n_val
    assert len(dataset.select("train", good=True)) == n_train - n_val


def test_mvtec_masks(tmp_path: Path) -> None:
    dataset = load_dataset(make_mvtec(tmp_path))
    masks = {s.path.name: s.mask for s in dataset.select(label="crack")}
    assert masks["000.png"] == tmp_path / "ground_truth/crack/000_mask.png"
    assert masks["002.png"] is None
    assert all(s.mask is None for s in dataset.select(good=True))


@pytest.mark.parametrize("n, val, test", [(1, 0, 0), (2, 0, 0), (3, 1, 1), (5, 1, 1), (10, 2, 2), (100, 20, 20)])
def test_folders_each_split_gets_one_per_class(tmp_path: Path, n: int, val: int, test: int) -> None:
    dataset = load_dataset(make_folders(tmp_path, n_good=max(n, 2), n_defect=n))
    counts = Counter(s.split for s in dataset.select(label="scratch"))
    assert (counts["val"], counts["test"], counts["train"]) == (val, test, n - val - test)


def test_folders_masks_and_recursion(tmp_path: Path) -> None:
    dataset = load_dataset(make_folders(tmp_path))
    masks = {s.path.relative_to(tmp_path).as_posix(): s.mask for s in dataset.select(label="scratch")}
    assert set(masks) == {
        "scratch/s00.jpg",
        "scratch/deep/s01.jpg",
        "scratch/s02.jpg",
        "scratch/deep/s03.jpg",
        "scratch/s04.jpg",
    }
    assert masks["scratch/deep/s01.jpg"] == tmp_path / "masks/scratch/deep/s01.png"
    assert masks["scratch/s02.jpg"] is None
    assert "masks" not in dataset.labels


def test_select_and_sample() -> None:
    good = Sample(Path("a.png"), "good", "train")
    bad = Sample(Path("b.png"), "dent", "test", Path("m.png"))
    dataset = Dataset(Path("."), "manifest", [good, bad])
    assert dataset.select(good=True) == [good]
    assert dataset.select(split="test", label="dent") == [bad]
    assert dataset.select(split="val") == []
    assert good.defect_type is None and bad.defect_type == "dent"
    assert dataset.splits == ["train", "test"]


def test_fingerprint_is_stable_across_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_manifest(tmp_path / "a")
    shutil.copytree(first, tmp_path / "elsewhere/b")
    fingerprint = load_dataset(first).fingerprint()
    assert len(fingerprint) == 64
    assert load_dataset(tmp_path / "elsewhere/b").fingerprint() == fingerprint
    monkeypatch.chdir(tmp_path)
    assert load_dataset(Path("a")).fingerprint() == fingerprint
    write_image(first / "img/good/0.png")  # new content, same name
    assert load_dataset(first).fingerprint() != fingerprint


def _mutate(root: Path, case: str) -> Path:
    """Build a broken dataset for one error case; returns the path to load."""
    if case == "missing folder":
        return root / "nope"
    if case == "file not folder":
        (root / "x.txt").write_text("x")
        return root / "x.txt"
    if case == "empty folder":
        (root / "notes").mkdir()
        (root / "notes/readme.txt").write_text("nothing here")
        return root
    if case == "unrecognised":
        write_image(root / "a.png")
        write_image(root / "stuff/b.png")
        return root
    if case == "missing column":
        make_manifest(root)
        (root / "split.csv").write_text("image,split\nimg/good/0.png,train\n")
        return root
    if case == "unknown split":
        return make_manifest(root, [("a.png", "good", "train", ""), ("b.png", "good", "holdout", "")])
    if case == "missing image":
        make_manifest(root, [("a.png", "good", "train", "")])
        (root / "split.csv").write_text("image,label,split\na.png,good,train\ngone.png,good,train\n")
        return root
    if case == "missing mask":
        make_manifest(root, [("a.png", "good", "train", "")])
        (root / "split.csv").write_text("image,label,split,mask\na.png,good,train,\na.png2.png,dent,test,m/none.png\n")
        write_image(root / "a.png2.png")
        return root
    if case == "duplicate row":
        return make_manifest(root, [("a.png", "good", "train", ""), ("a.png", "good", "test", "")])
    if case == "not an image":
        (root / "a.txt").write_text("x")
        return make_manifest(root, [("a.txt", "good", "train", "")])
    if case == "empty manifest":
        (root / "split.csv").write_text("image,label,split\n")
        return root
    if case == "manifest no good train":
        return make_manifest(root, [("a.png", "dent", "train", ""), ("b.png", "good", "test", "")])
    if case == "folders no good":
        (root / "good").mkdir()
        write_image(root / "dent/a.png")
        return root
    if case == "mvtec empty train":
        (root / "train/good").mkdir(parents=True)
        return root
    if case == "bad fraction":
        return make_folders(root)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing folder", r"nope does not exist"),
        ("file not folder", r"x\.txt is a file"),
        ("empty folder", r"no images"),
        ("unrecognised", r"unrecognised dataset layout \(found stuff/\)"),
        ("missing column", r"split\.csv: missing column\(s\) label"),
        ("unknown split", r"split\.csv, line 3: unknown split 'holdout'"),
        ("missing image", r"line 3: image .*gone\.png does not exist"),
        ("missing mask", r"line 3: mask .*none\.png does not exist"),
        ("duplicate row", r"a\.png is listed twice \(first on line 2\)"),
        ("not an image", r"a\.txt is not an image file"),
        ("empty manifest", r"split\.csv: the manifest lists no images"),
        ("manifest no good train", r"split\.csv: no good training images"),
        ("folders no good", r"good: no good training images"),
        ("mvtec empty train", r"train/good: no images"),
        ("bad fraction", r"val_fraction=1\.5 is outside"),
    ],
)
def test_errors_name_the_file(tmp_path: Path, case: str, expected: str) -> None:
    target = _mutate(tmp_path, case)
    kwargs = {"val_fraction": 1.5} if case == "bad fraction" else {}
    with pytest.raises(DatasetError, match=expected) as info:
        load_dataset(target, **kwargs)
    assert info.value.fix, "every DatasetError says how to fix it"


@pytest.mark.parametrize(
    "name, depth, color, size",
    [
        ("a.png", 8, True, (20, 30)),
        ("b.png", 16, False, (31, 17)),
        ("c.png", 16, True, (8, 8)),
        ("d.jpg", 8, True, (40, 40)),
        ("e.bmp", 8, False, (12, 9)),
        ("f.tif", 16, False, (10, 11)),
        ("g.TIFF", 8, True, (5, 6)),
        ("h.JPEG", 8, False, (16, 16)),
    ],
)
def test_validate_samples_reads_formats(
    tmp_path: Path, name: str, depth: int, color: bool, size: tuple[int, int]
) -> None:
    path = write_image(tmp_path / name, size, depth=depth, color=color)
    mask = write_mask(tmp_path / "m.png", size)
    validate_samples([Sample(path, "dent", "test", mask)])


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"this is text, not a PNG", r"unreadable image: .*bad\.png: not a readable image"),
        (b"", r"unreadable image: .*bad\.png: empty file"),
    ],
)
def test_validate_samples_unreadable(tmp_path: Path, content: bytes, expected: str) -> None:
    good = write_image(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(DatasetError, match=expected):
        validate_samples([Sample(good, "good", "train"), Sample(tmp_path / "bad.png", "good", "train")])


def test_validate_samples_mask_size_mismatch(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.png", (24, 32))
    mask = write_mask(tmp_path / "a_mask.png", (20, 30))
    samples = [Sample(image, "dent", "test", mask)]
    with pytest.raises(DatasetError, match=r"a_mask\.png is 30x20 but its image .*a\.png is 32x24"):
        validate_samples(samples)
    validate_samples(samples, check_masks=False)


@pytest.mark.dataset
def test_real_magnetic_tile() -> None:
    if not (REAL_DATASET / "split.csv").is_file():
        pytest.skip(f"real dataset not present at {REAL_DATASET}")
    dataset = load_dataset(REAL_DATASET)
    assert dataset.layout == "manifest"
    assert len(dataset.samples) == 1344
    assert len(dataset.select("train", good=True)) == 571
    assert dataset.defect_types == ["blowhole", "break", "crack", "fray", "uneven"]
    assert dataset.has_masks
