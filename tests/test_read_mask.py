"""Defect masks read at the depth they are stored: any non-zero colour value is defect, alpha is not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.errors import ImageReadError
from inspector.imageio import read_mask


def _mask(dtype, channels: int, value, at: tuple[int, int] = (3, 5), channel: int = 0) -> np.ndarray:
    shape = (8, 12) if channels == 1 else (8, 12, channels)
    array = np.zeros(shape, dtype)
    if channels == 1:
        array[at] = value
    else:
        array[at][channel] = value
    return array


@pytest.mark.parametrize(
    ("name", "array", "defect"),
    [
        ("gray8.png", _mask(np.uint8, 1, 255), {(3, 5)}),
        ("label1.png", _mask(np.uint8, 1, 1), {(3, 5)}),
        ("label1_16bit.png", _mask(np.uint16, 1, 1), {(3, 5)}),  # /257 to 8 bits would make it 0
        ("blue1.png", _mask(np.uint8, 3, 1, channel=0), {(3, 5)}),
        ("red200.png", _mask(np.uint8, 3, 200, channel=2), {(3, 5)}),
        ("alpha_only.png", _mask(np.uint8, 4, 255, channel=3), set()),  # an opaque pixel is not a defect
        ("green_rgba.png", _mask(np.uint8, 4, 9, channel=1), {(3, 5)}),
        ("float.tiff", _mask(np.float32, 1, 0.25), {(3, 5)}),
        ("empty.png", _mask(np.uint8, 1, 0), set()),
    ],
)
def test_read_mask(tmp_path: Path, name: str, array: np.ndarray, defect: set) -> None:
    path = tmp_path / name
    assert cv2.imwrite(str(path), array)
    mask = read_mask(path)
    assert mask.dtype == bool and mask.shape == (8, 12)
    assert {tuple(int(v) for v in p) for p in np.argwhere(mask)} == defect


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "empty file"), (b"\x89PNG\r\n\x1a\n broken", "not a readable image")],
)
def test_a_broken_mask_is_named(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "mask.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_mask(path)
    assert str(path) in info.value.message and says in info.value.message
