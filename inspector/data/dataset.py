"""Finding a dataset's images, labels, splits and masks in one of three layouts.

Layouts, detected in this order:

* ``manifest``: a ``split.csv`` (columns ``image,label,split`` and optional ``mask``; paths
  relative to the CSV). Label ``good`` is a good part, any other label is a defect type.
* ``mvtec``: MVTec AD, ``train/good``, ``test/<type>/`` and optional
  ``ground_truth/<type>/<stem>_mask.png``. A seeded share of ``train/good`` becomes ``val``.
* ``folders``: class folders ``good/`` and ``<defect type>/`` (images directly inside or in
  sub-folders), split per class by seeded ratios. Optional masks live in a sibling folder
  ``masks/<type>/<same relative path, suffix .png>``; ``masks`` is therefore never a class.

Whatever the layout, when no sample is in ``val`` a seeded share of the good training images
is held back as ``val`` (thresholds are calibrated on it).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.errors import DatasetError, ImageReadError
from inspector.imageio import IMAGE_SUFFIXES, is_image_file, read_bytes, read_image, read_mask

GOOD = "good"
SPLITS = ("train", "val", "test")
MANIFEST_NAME = "split.csv"
MASKS_FOLDER = "masks"
_SUFFIXES = "/".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
_LAYOUTS_HELP = (
    f"use one of: a {MANIFEST_NAME} manifest (image,label,split[,mask]); MVTec AD "
    "(train/good, test/<type>, ground_truth/<type>); or class folders (good/, <defect type>/)"
)


@dataclass(frozen=True)
class Sample:
    """One image: its label (``good`` or a defect type), split and optional defect mask."""

    path: Path
    label: str
    split: str
    mask: Path | None = None

    @property
    def is_good(self) -> bool:
        return self.label == GOOD

    @property
    def defect_type(self) -> str | None:
        return None if self.is_good else self.label


@dataclass
class Dataset:
    """The samples of a dataset folder and the layout they were found in."""

    root: Path
    layout: str  # "manifest" | "mvtec" | "folders"
    samples: list[Sample]

    def select(self, split: str | None = None, label: str | None = None, good: bool | None = None) -> list[Sample]:
        """Samples matching every filter given (None means any)."""
        return [
            s
            for s in self.samples
            if (split is None or s.split == split)
            and (label is None or s.label == label)
            and (good is None or s.is_good == good)
        ]

    @property
    def labels(self) -> list[str]:
        """All labels, ``good`` first, then the defect types sorted."""
        found = {s.label for s in self.samples}
        return ([GOOD] if GOOD in found else []) + sorted(found - {GOOD})

    @property
    def defect_types(self) -> list[str]:
        return [label for label in self.labels if label != GOOD]

    @property
    def splits(self) -> list[str]:
        """Splits present, in the order train, val, test."""
        found = {s.split for s in self.samples}
        return [split for split in SPLITS if split in found]

    @property
    def has_masks(self) -> bool:
        return any(s.mask is not None for s in self.samples)

    def relative(self, path: Path) -> str:
        """A path relative to the root with posix separators (stable across machines)."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def fingerprint(self) -> str:
        """SHA-256 over the sorted (relative path, split, label, file SHA-256[, mask, mask SHA-256])."""
        rows = []
        for s in self.samples:
            fields = [self.relative(s.path), s.split, s.label, _file_sha256(s.path)]
            if s.mask is not None:
                fields += [self.relative(s.mask), _file_sha256(s.mask)]
            rows.append("\t".join(fields))
        text = "inspector-dataset-v1\n" + "\n".join(sorted(rows))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except ImageReadError as exc:
        raise DatasetError(exc.message, "restore the file or remove it from the dataset") from exc


def _images_in(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under a folder, sorted; hidden files and folders are skipped."""
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    found = []
    for path in pattern:
        rel = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if path.is_file() and is_image_file(path):
            found.append(path)
    return sorted(found)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _load_manifest(csv_path: Path) -> list[Sample]:
    base = csv_path.parent
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in ("image", "label", "split") if c not in columns]
            if missing:
                raise DatasetError(
                    f"{csv_path}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})",
                    "the first line must name the columns image,label,split and optionally mask",
                )
            rows = [({(k or "").strip(): (v or "").strip() for k, v in row.items()}, reader.line_num) for row in reader]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path}: not UTF-8 text ({exc.reason})", "save the manifest as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DatasetError(f"{csv_path}: not a valid CSV ({exc})", "fix the manifest's quoting") from exc
    samples: list[Sample] = []
    seen: dict[Path, int] = {}
    for row, line in rows:
        where = f"{csv_path}, line {line}"
        if not any(row.values()):
            continue
        if not row["image"] or not row["label"]:
            raise DatasetError(f"{where}: empty image or label", "give every row an image path and a label")
        split = row["split"].lower()
        if split not in SPLITS:
            raise DatasetError(
                f"{where}: unknown split {row['split']!r} for {row['image']}",
                f"use one of {', '.join(SPLITS)}",
            )
        path = Path(os.path.normpath(base / row["image"]))
        if not is_image_file(path):
            raise DatasetError(f"{where}: {row['image']} is not an image file", f"list only {_SUFFIXES} files")
        if not path.is_file():
            raise DatasetError(
                f"{where}: image {path} does not exist", "fix the path (relative to the CSV) or remove the row"
            )
        if path in seen:
            raise DatasetError(f"{where}: image {path} is listed twice (first on line {seen[path]})", "remove one row")
        seen[path] = line
        mask = None
        if row.get("mask"):
            mask = Path(os.path.normpath(base / row["mask"]))
            if not mask.is_file():
                raise DatasetError(
                    f"{where}: mask {mask} does not exist", "fix the mask path or leave the mask cell empty"
                )
        samples.append(Sample(path, row["label"], split, mask))
    if not samples:
        raise DatasetError(f"{csv_path}: the manifest lists no images", "add one row per image: image,label,split")
    return samples


def _mvtec_mask(root: Path, defect: str, rel: Path) -> Path | None:
    folder = root / "ground_truth" / defect / rel.parent
    for name in (f"{rel.stem}_mask.png", f"{rel.stem}.png"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_mvtec(root: Path) -> list[Sample]:
    samples: list[Sample] = []
    for folder in _subfolders(root / "train"):
        samples += [Sample(p, folder.name, "train") for p in _images_in(folder)]
    test = root / "test"
    for folder in _subfolders(test) if test.is_dir() else []:
        for path in _images_in(folder):
            mask = None if folder.name == GOOD else _mvtec_mask(root, folder.name, path.relative_to(folder))
            samples.append(Sample(path, folder.name, "test", mask))
    return samples


def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(val, test) counts for a class of n images; each split gets one when n >= 3."""
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    if n >= 3:
        n_val, n_test = max(1, n_val), max(1, n_test)
    while n_val + n_test > max(n - 1, 0):
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def _load_folders(root: Path, rng: np.random.Generator, val_fraction: float, test_fraction: float) -> list[Sample]:
    samples: list[Sample] = []
    for folder in _subfolders(root):
        if folder.name == MASKS_FOLDER:
            continue
        paths = _images_in(folder)
        if not paths:
            continue
        order = rng.permutation(len(paths))
        n_val, n_test = _split_counts(len(paths), val_fraction, test_fraction)
        for rank, index in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            path = paths[index]
            mask = root / MASKS_FOLDER / folder.name / path.relative_to(folder).with_suffix(".png")
            samples.append(Sample(path, folder.name, split, mask if mask.is_file() else None))
    return samples


def _hold_back_val(samples: list[Sample], rng: np.random.Generator, val_fraction: float) -> list[Sample]:
    """Move a seeded share of the good training images to val (at least 1 when there are >= 2)."""
    train_good = sorted(
        (i for i, s in enumerate(samples) if s.split == "train" and s.is_good), key=lambda i: samples[i].path
    )
    if len(train_good) < 2 or val_fraction <= 0:
        return samples
    count = min(max(1, round(len(train_good) * val_fraction)), len(train_good) - 1)
    chosen = {train_good[i] for i in rng.permutation(len(train_good))[:count]}
    return [Sample(s.path, s.label, "val", s.mask) if i in chosen else s for i, s in enumerate(samples)]


def load_dataset(
    root: Path | str, *, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2, require_good: bool = True
) -> Dataset:
    """Find the samples of a dataset folder (or of a manifest CSV given directly). `require_good=False`
    (a defect-type classifier, docs/classification.md#typer) also takes class folders without good/.

    Raises DatasetError naming the folder or file and the fix when the dataset is unusable.
    """
    root = Path(root)
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"{name}={value} is outside [0, 1)", f"pass a {name} such as 0.2")
    if root.is_file() and root.suffix.lower() == ".csv":
        root, manifest = root.parent, root
    else:
        manifest = root / MANIFEST_NAME
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist", "check the --data path")
    if not root.is_dir():
        raise DatasetError(
            f"{root} is a file, not a dataset folder", f"pass the folder that holds the images or a {MANIFEST_NAME}"
        )
    rng = np.random.default_rng(seed)
    if manifest.is_file():
        layout, samples = "manifest", _load_manifest(manifest)
    elif (root / "train" / GOOD).is_dir():
        layout, samples = "mvtec", _load_mvtec(root)
        if not samples:
            raise DatasetError(
                f"{root / 'train' / GOOD}: no images ({_SUFFIXES}) in this MVTec-style dataset",
                "add the good training images",
            )
    elif (root / GOOD).is_dir():
        layout, samples = "folders", _load_folders(root, rng, val_fraction, test_fraction)
        if not samples:
            raise DatasetError(
                f"{root}: the class folders hold no images ({_SUFFIXES})", "put images in good/ and <defect type>/"
            )
    elif not require_good and any(_images_in(f) for f in _subfolders(root) if f.name != MASKS_FOLDER):
        layout, samples = "folders", _load_folders(root, rng, val_fraction, test_fraction)
    elif not _images_in(root):
        raise DatasetError(f"{root}: no images ({_SUFFIXES}) found in the folder or below it", _LAYOUTS_HELP)
    else:
        found = ", ".join(p.name + "/" for p in _subfolders(root)[:8]) or "loose image files only"
        raise DatasetError(f"{root}: unrecognised dataset layout (found {found})", _LAYOUTS_HELP)
    if not any(s.split == "val" for s in samples):
        samples = _hold_back_val(samples, rng, val_fraction)
    if require_good and not any(s.split == "train" and s.is_good for s in samples):
        where = {"manifest": manifest, "mvtec": root / "train" / GOOD, "folders": root / GOOD}[layout]
        raise DatasetError(f"{where}: no good training images", "add images of good parts to the training split")
    return Dataset(root, layout, samples)


def validate_samples(samples: list[Sample], *, check_masks: bool = True) -> None:
    """Decode every image (and mask); raise DatasetError naming the first bad file."""
    for s in samples:
        try:
            image = read_image(s.path)
        except ImageReadError as exc:
            raise DatasetError(f"unreadable image: {exc.message}", exc.fix or "replace or remove the file") from exc
        if not check_masks or s.mask is None:
            continue
        try:
            mask = read_mask(s.mask)
        except ImageReadError as exc:
            raise DatasetError(f"unreadable mask: {exc.message}", exc.fix or "replace or remove the mask") from exc
        if mask.shape != image.shape[:2]:
            raise DatasetError(
                f"mask {s.mask} is {mask.shape[1]}x{mask.shape[0]} but its image {s.path} is "
                f"{image.shape[1]}x{image.shape[0]} (width x height)",
                "re-export the mask at the image's size",
            )
