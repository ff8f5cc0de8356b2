"""Synthetic defects drawn once at the finest geometry and shrunk for a coarser view: the same physical defects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

from inspector.synthetic import make_part
from training.synthetic_defects import rescale_defects, synthetic_defects


def _goods(size: tuple[int, int]) -> list[np.ndarray]:
    return [make_part(np.random.default_rng(i), size=size).image for i in range(3)]


def test_every_defect_comes_back_on_its_own_good_image_at_the_coarser_size() -> None:
    fine = _goods((128, 512))
    coarse = [cv2.resize(g, (128, 32), interpolation=cv2.INTER_AREA) for g in fine]
    drawn = synthetic_defects(fine, 10, seed=0)
    shrunk = rescale_defects(drawn, coarse)
    assert [(d.kind, d.source) for d in shrunk] == [(d.kind, d.source) for d in drawn]  # none dropped
    for d, s in zip(drawn, shrunk, strict=True):
        assert s.image.shape == coarse[s.source].shape and s.mask.shape == (32, 128)
        assert np.array_equal(s.image[~s.mask], coarse[s.source][~s.mask])  # outside: the good as the view loads it
        assert s.mask.any() and s.mask.mean() >= d.mask.mean() * 0.9  # the defect covers as much of the part


def test_a_one_pixel_line_stays_a_defect_when_the_view_shrinks_it() -> None:
    from training.synthetic_defects import SyntheticDefect

    fine = np.full((64, 64, 3), 128, np.uint8)
    line = fine.copy()
    line[:, 30] = 0
    mask = np.zeros((64, 64), bool)
    mask[:, 30] = True
    coarse = np.full((16, 16, 3), 128, np.uint8)
    (s,) = rescale_defects([SyntheticDefect(line, mask, "scratch", 0)], [coarse])
    assert s.mask[:, 7].all() and s.mask.sum() == 16  # one column of the 4x smaller view
    assert int(s.image[0, 7, 0]) == 96  # a quarter of the column dark: faint, but where it was
