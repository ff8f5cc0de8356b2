"""The expected-FRR interval's Beta quantile, exact for the whole shapes the conformal threshold gives."""

from __future__ import annotations

import math

import pytest

from training.calibration import beta_quantile


@pytest.mark.parametrize(
    ("q", "a", "b", "expected", "raises"),
    [
        (0.05, 1, 1, 0.05, None),  # Beta(1, 1) is uniform
        (0.95, 1, 1, 0.95, None),
        (0.05, 7, 1, 0.05 ** (1 / 7), None),  # Beta(a, 1): x^a
        (0.95, 1, 586, 1 - 0.05 ** (1 / 586), None),  # Beta(1, b): 1 - (1 - x)^b
        (0.5, 30, 30, 0.5, None),  # symmetric
        (0.0, 5, 586, 0.0, None),
        (1.0, 5, 586, 1.0, None),
        (0.5, 0, 3, None, ValueError),
        (1.5, 2, 3, None, ValueError),
    ],
)
def test_closed_forms(q, a, b, expected, raises) -> None:
    if raises is not None:
        with pytest.raises(raises, match="beta_quantile needs"):
            beta_quantile(q, a, b)
        return
    assert math.isclose(beta_quantile(q, a, b), expected, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize(("a", "b"), [(5, 586), (3, 104), (10, 10), (200, 1), (2, 3000), (1, 19)])
def test_matches_scipy(a: int, b: int) -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy comes with albumentations (the 'train' extra)")
    for q in (0.05, 0.5, 0.95):
        assert beta_quantile(q, a, b) == pytest.approx(stats.beta.ppf(q, a, b), abs=1e-12)
