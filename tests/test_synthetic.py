"""Tests for the procedural part generator."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.synthetic import DEFECT_TYPES, Part, SyntheticLine, make_part, write_dataset

STYLES = ("brushed", "woven", "fabric")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("defect", (None, *DEFECT_TYPES))
def test_make_part_shapes_labels_masks(style: str, defect: str | None) -> None:
    part = make_part(np.random.default_rng(3), size=(96, 128), defect=defect, style=style)
    assert isinstance(part, Part)
    assert part.image.shape == (96, 128, 3) and part.image.dtype == np.uint8
    assert part.mask.shape == (96, 128) and part.mask.dtype == bool
    assert part.label == (defect or "good")
    if defect is None:
        assert not part.mask.any()
    else:
        assert part.mask.sum() >= 4
        assert part.mask.mean() < 0.2  # a defect, not the whole part


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("defect", (None, *DEFECT_TYPES))
def test_make_part_deterministic(style: str, defect: str | None) -> None:
    a = make_part(np.random.default_rng(7), defect=defect, style=style)
    b = make_part(np.random.default_rng(7), defect=defect, style=style)
    c = make_part(np.random.default_rng(8), defect=defect, style=style)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("style", ("brushed", "woven"))
def test_parts_differ_but_are_similar(style: str) -> None:
    rng = np.random.default_rng(0)
    parts = [make_part(rng, style=style) for _ in range(4)]
    means = [p.image.reshape(-1, 3).mean(axis=0) for p in parts]
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            assert not np.array_equal(parts[i].image, parts[j].image)
            assert np.abs(means[i] - means[j]).max() < 40  # same product, not a different one


def test_styles_differ_in_colour() -> None:
    rng = np.random.default_rng(0)
    grey = make_part(rng, style="brushed").image.reshape(-1, 3).mean(axis=0)
    woven = make_part(rng, style="woven").image.reshape(-1, 3).mean(axis=0)
    assert np.ptp(grey) < 15  # nearly neutral
    assert np.ptp(woven) > 40  # clearly coloured


@pytest.mark.parametrize("style", ("brushed", "woven"))
@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_defects_are_visible(style: str, defect: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        part = make_part(rng, defect=defect, style=style)
        g = cv2.cvtColor(part.image, cv2.COLOR_RGB2GRAY).astype(float)
        contrast = abs(g[part.mask].mean() - g[~part.mask].mean()) / g[~part.mask].std()
        assert contrast > 1.0


def test_mask_is_exactly_the_changed_pixels() -> None:
    """Same rng state: the surface is drawn first, so the good part is the defect part's background."""
    for defect in DEFECT_TYPES:
        good = make_part(np.random.default_rng(5), defect=None)
        bad = make_part(np.random.default_rng(5), defect=defect)
        changed = (good.image != bad.image).any(axis=2)
        assert np.array_equal(changed, bad.mask)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"defect": "dent"}, ValueError),
        ({"style": "plastic"}, ValueError),
        ({"size": (8, 8)}, ValueError),
    ],
)
def test_make_part_rejects_bad_arguments(kwargs: dict, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        make_part(np.random.default_rng(0), **kwargs)


def test_good_label_means_no_defect() -> None:
    assert make_part(np.random.default_rng(0), defect="good").label == "good"


SMALL = {"size": (32, 32), "n_train": 3, "n_val": 2, "n_test": 2, "n_defect": 2}


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_write_dataset_manifest(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds", layout="manifest", **SMALL)
    with open(root / "split.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["image", "label", "split", "mask"]
    good = [r for r in rows if r["label"] == "good"]
    assert [sum(r["split"] == s for r in good) for s in ("train", "val", "test")] == [3, 2, 2]
    for d in DEFECT_TYPES:
        mine = [r for r in rows if r["label"] == d]
        assert sorted(r["split"] for r in mine) == ["test", "test", "val", "val"]
    for r in rows:
        img = _read_rgb(root / r["image"])
        assert img.shape == (32, 32, 3)
        assert Path(r["image"]).parts[:2] == ("images", r["label"])
        if r["label"] == "good":
            assert r["mask"] == ""
        else:
            m = cv2.imread(str(root / r["mask"]), cv2.IMREAD_GRAYSCALE)
            assert Path(r["mask"]).parts[:2] == ("masks", r["label"])
            assert set(np.unique(m)) <= {0, 255} and (m == 255).any()


def test_write_dataset_matches_make_part_and_is_rgb(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, layout="manifest", style="woven", seed=4, **SMALL)
    first = make_part(np.random.default_rng(4), size=(32, 32), style="woven")
    assert np.array_equal(_read_rgb(root / "images/good/good_000.png"), first.image)


def test_write_dataset_mvtec(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, layout="mvtec", **SMALL)
    assert len(list((root / "train/good").glob("*.png"))) == 3
    assert len(list((root / "test/good").glob("*.png"))) == 4  # val + test goods
    for d in DEFECT_TYPES:
        imgs = sorted((root / "test" / d).glob("*.png"))
        masks = sorted((root / "ground_truth" / d).glob("*_mask.png"))
        assert len(imgs) == 4
        assert [m.name for m in masks] == [f"{p.stem}_mask.png" for p in imgs]
        m = cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE)
        assert set(np.unique(m)) <= {0, 255}
    assert not (root / "ground_truth" / "good").exists()


def test_write_dataset_folders(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, layout="folders", defect_types=("spot",), image_format="jpg", **SMALL)
    assert sorted(p.name for p in root.iterdir()) == ["good", "spot"]
    assert len(list((root / "good").glob("*.jpg"))) == 7
    assert len(list((root / "spot").glob("*.jpg"))) == 4


def test_write_dataset_deterministic(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", seed=1, **SMALL)
    b = write_dataset(tmp_path / "b", seed=1, **SMALL)
    c = write_dataset(tmp_path / "c", seed=2, **SMALL)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files if f.suffix == ".png")


@pytest.mark.parametrize(
    "kwargs, exc",
    [({"layout": "coco"}, ValueError), ({"defect_types": ("dent",)}, ValueError)],
)
def test_write_dataset_rejects_bad_arguments(tmp_path: Path, kwargs: dict, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        write_dataset(tmp_path, **{**SMALL, **kwargs})


def test_synthetic_line_deterministic_and_mixed() -> None:
    a = [next(SyntheticLine(seed=3, size=(32, 32))) for _ in range(1)]
    line1, line2 = SyntheticLine(seed=3, size=(32, 32)), SyntheticLine(seed=3, size=(32, 32))
    parts1 = [next(line1) for _ in range(60)]
    parts2 = [next(line2) for _ in range(60)]
    assert np.array_equal(a[0].image, parts1[0].image)
    assert all(np.array_equal(p.image, q.image) and p.label == q.label for p, q in zip(parts1, parts2, strict=True))
    labels = [p.label for p in parts1]
    n_ng = sum(lab != "good" for lab in labels)
    assert 3 <= n_ng <= 25  # ng_rate 0.2 of 60
    assert set(labels) - {"good"} <= set(DEFECT_TYPES)
    for p in parts1:
        assert p.mask.any() == (p.label != "good")


@pytest.mark.parametrize("ng_rate, expect_ng", [(0.0, False), (1.0, True)])
def test_synthetic_line_rates(ng_rate: float, expect_ng: bool) -> None:
    line = SyntheticLine(seed=0, size=(32, 32), ng_rate=ng_rate, style="woven", defect_types=("crack",))
    labels = {next(line).label for _ in range(10)}
    assert labels == ({"crack"} if expect_ng else {"good"})


def test_synthetic_line_is_iterator() -> None:
    line = SyntheticLine(size=(32, 32))
    assert iter(line) is line
    with pytest.raises(ValueError):
        SyntheticLine(ng_rate=1.5)
