"""What `inspector batch` inspects: files, folders (recursive), globs and manifests, and how one is read.

Inputs are only ever read. Reading refuses anything that is not a regular file (a FIFO named
.png would otherwise block the run) and never raises for a bad image: the reason becomes the row's error.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.alignment import PartNotFound
from inspector.data.dataset import MANIFEST_NAME, load_dataset
from inspector.engine import View
from inspector.errors import DatasetError, ImageReadError, InspectorError
from inspector.imageio import MAX_PIXELS, decode_image, is_image_file, read_bytes

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Item:
    """One input: its path, and label and mask where a dataset layout or manifest names them."""

    path: Path
    label: str | None = None
    mask: Path | None = None

    @property
    def key(self) -> str:
        """The identity of an input in results (absolute path, symlinks kept)."""
        return os.path.abspath(self.path)


@dataclass
class Loaded:
    """An item read and prepared at the model's size, or the reason it could not be."""

    item: Item
    sha256: str = ""
    image: np.ndarray | None = None
    view: View | None = None  # the image with its frame size and alignment outcome (the gates need them)
    error: str = ""
    decode_ms: float = 0.0


def _folder_items(root: Path, split: str | None, seed: int) -> list[Item]:
    try:
        dataset = load_dataset(root, seed=seed)
    except DatasetError:
        if (root / MANIFEST_NAME).is_file():
            raise  # a manifest that does not load is the user's to fix, not to silently bypass
        dataset = None
    if dataset is not None:
        samples = dataset.select(split=split) if split else dataset.samples
        return [Item(s.path, s.label, s.mask) for s in samples]
    found = []
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if is_image_file(path) and not path.is_dir():
            found.append(Item(path))  # FIFOs, sockets etc. named .png get an error row, not a hang
    return found


def expand(text: str) -> list[Path]:
    path = Path(text)
    if path.exists() or path.is_symlink() or not (GLOB_CHARS & set(text)):
        return [path]
    return [Path(p) for p in sorted(glob.glob(text, recursive=True))]


def collect(inputs: list[str | Path], split: str | None = None, seed: int = 0) -> list[Item]:
    """Items from files, folders (dataset layouts give labels, others are read recursively), globs and
    manifests (split.csv); each input once, in the order given. A missing path becomes an error row."""
    items: list[Item] = []
    for text in inputs:
        matches = expand(str(text))
        if not matches:
            raise InspectorError(
                f"the pattern {text!r} matches no file", "check the glob (quote it to let inspector expand it)"
            )
        for path in matches:
            if path.is_dir():
                items += _folder_items(path, split, seed)
            elif path.suffix.lower() == ".csv" and path.is_file():
                dataset = load_dataset(path, seed=seed)
                samples = dataset.select(split=split) if split else dataset.samples
                items += [Item(s.path, s.label, s.mask) for s in samples]
            else:
                items.append(Item(path))
    unique: dict[str, Item] = {}
    for item in items:
        unique.setdefault(item.key, item)
    if not unique:
        raise InspectorError(f"no images found in {', '.join(map(str, inputs))}", "check the paths and --split")
    return list(unique.values())


def load_item(item: Item, prepare: Callable[[np.ndarray], np.ndarray | View], max_pixels: int = MAX_PIXELS) -> Loaded:
    """Read, hash, decode and `prepare` (the engine's `view`, or its plain resize) one input; never raises for
    a bad file."""
    start = time.perf_counter()
    out = Loaded(item)
    try:
        data = read_bytes(item.path)
        out.sha256 = hashlib.sha256(data).hexdigest()
        prepared = prepare(decode_image(data, str(item.path), max_pixels=max_pixels))
        out.view = prepared if isinstance(prepared, View) else None
        out.image = prepared.image if isinstance(prepared, View) else prepared
    except ImageReadError as exc:
        out.error = exc.message
    except PartNotFound as exc:  # the bundle aligns parts and this image holds none like the trained ones
        out.error = f"{item.path}: {exc}"
    except (cv2.error, ValueError, MemoryError) as exc:  # a decoder failing in an unforeseen way
        out.error = f"{item.path}: cannot be decoded ({type(exc).__name__}: {exc})"
    out.decode_ms = (time.perf_counter() - start) * 1000
    return out
