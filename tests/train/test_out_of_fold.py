"""CV+ over every good image: validation goods and synthetic defects are scored by models that never saw them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import training.heads as heads  # noqa: E402
from training.anomaly_model import AnomalyMap, PadimHead  # noqa: E402
from training.calibration import fold_indices  # noqa: E402
from training.fit import fit_padim  # noqa: E402


def _features(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy((np.random.default_rng(seed).normal(size=(n, 6, 4, 4)) * 2 + 3).astype(np.float32))


@pytest.mark.parametrize("seed", [0, 3])  # 0: the fit's own folds (PaDiM's fold sums kept); 3: other folds
def test_validation_goods_and_companions_are_scored_by_the_fold_model_that_never_saw_them(seed) -> None:
    good = _features(40, 0)  # images 30..39 play the validation goods
    always = np.arange(30, 40)
    companions = _features(4, 1) + 2.0  # synthetic defects drawn on validation goods 31, 35, 35, 38
    sources = np.array([31, 35, 35, 38])
    post = AnomalyMap((32, 32), 2.0, (4, 4))
    head, extra = heads.fit_head("padim", good, coreset_size=64, seed=0, progress=False)
    oof = heads.out_of_fold(
        "padim", good, head, extra, post, None, images=40, seed=seed, always=always, companions=(companions, sources)
    )
    scored = np.flatnonzero(~np.isnan(oof.scores))
    assert scored.tolist() == list(range(40))  # every good image, validation and training alike
    assert sorted(oof.maps) == always.tolist() and oof.maps[30].shape == (32, 32)
    for fold in fold_indices(40, seed=seed):
        kept = np.setdiff1d(np.arange(40), fold)
        fold_head = PadimHead(*fit_padim(good[torch.from_numpy(kept)], extra["block"]), (4, 4), extra["block"])
        want = heads.Scorer(fold_head, post, None)(good[torch.from_numpy(fold)])[0]
        mine = np.isin(fold, scored)
        np.testing.assert_allclose(oof.scores[fold[mine]], want[mine], rtol=1e-4)
        for i in np.flatnonzero(np.isin(sources, fold)):
            want_c = heads.Scorer(fold_head, post, None)(companions[i : i + 1])[0][0]
            assert oof.companion_scores[i] == pytest.approx(want_c, rel=1e-4)
            assert oof.companion_maps[i].shape == (32, 32)
    full = heads.Scorer(head, post, None)(good[torch.from_numpy(always)])[0]
    assert np.all(oof.scores[always] > full)  # the full model saw them: in-sample scores are lower
    assert len(oof.among(slice(0, 30))) == 30
