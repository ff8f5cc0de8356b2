"""Which good and defective images fit, judge and calibrate, within the memory bound (training.config).

The heads fit on at most MAX_FIT_VIEWS good views: beyond that a seeded sample of the training goods fits
(`fit_goods`), and of the validation goods and defects judges (`judging_sample`). The goods left out of the
fit are not lost to calibration: the deployed model never saw them, so its scores of them are exchangeable
with a fresh good part's, and up to MAX_FIT_VIEWS views of them join the out-of-fold scores (`held_out_goods`).
"""

from __future__ import annotations

import numpy as np

from training.config import AnomalyConfig
from training.geometry import Geometry

NOTES = ("fit_sample", "val_sample", "calibration_held_out")
"""run.json `details` keys that say what the bound left out and how it was calibrated (printed and reported)."""

MIN_FIT_TRAIN = 32
"""Training goods that fit at least, whatever the validation goods take of the bound."""


def fit_sample(
    n_train: int,
    n_val_good: int,
    views_per_image: int,
    *,
    max_views: int,
    seed: int,
    keep: frozenset[int] = frozenset(),
) -> np.ndarray | None:
    """Sorted indices of the training goods to fit on, or None for all of them (training.config.MAX_FIT_VIEWS).

    The `n_val_good` validation goods always fit (they calibrate, out of fold); so do the training goods in `keep`
    (parts an operator reviewed). The others are a seeded sample that fills the rest of `max_views`. With
    `n_val_good` 0 it also draws the validation goods and defects within their bounds (`judging_sample`) and the
    goods left out that calibrate (`held_out_goods`).
    """
    room = max(max_views // views_per_image - n_val_good, MIN_FIT_TRAIN, len(keep))
    if n_train <= room:
        return None
    others = np.array([i for i in range(n_train) if i not in keep], dtype=int)
    drawn = np.random.default_rng(seed).permutation(others)[: room - len(keep)]
    return np.sort(np.concatenate([drawn, np.array(sorted(keep), dtype=int)]))


def fit_goods(
    cfg: AnomalyConfig, train_all: list, added: list, geometry: Geometry, val_defect: np.ndarray
) -> tuple[list[int], str | None]:
    """Indices in `train_all` of the training goods one geometry's heads fit on: all, or a seeded sample within
    the memory bound (the one view of a tiled set fits on all of them); and why."""
    reviewed = {s.path for s in added}  # an operator's corrections always fit
    sample = fit_sample(
        len(train_all),
        int((~val_defect).sum()),
        geometry.num_tiles,
        max_views=cfg.max_fit_views,
        seed=cfg.seed,
        keep=frozenset(i for i, s in enumerate(train_all) if s.path in reviewed),
    )
    if sample is None:
        return list(range(len(train_all))), None
    note = (
        f"fitted on a seeded sample of {len(sample)} of the {len(train_all)} training goods (and every validation "
        f"good): the features of at most {cfg.max_fit_views} views ({geometry.num_tiles} per image) stay in memory"
    )
    return sample.tolist(), note


def judging_sample(cfg: AnomalyConfig, val_s: list, geometries: list[Geometry]) -> tuple[list, str | None]:
    """The validation images that judge the candidates, in their order, and why not all of them.

    The goods fit and calibrate: where their views would take the fit's bound beyond a floor of MIN_FIT_TRAIN
    training goods, a seeded sample of them does. The defects only judge: at most `max_defect_views` of
    their views, a seeded sample beyond. Sized by the most tiles any competing geometry cuts.
    """
    per_image = max(g.num_tiles for g in geometries)
    goods = [i for i, s in enumerate(val_s) if s.is_good]
    defects = [i for i, s in enumerate(val_s) if not s.is_good]
    good_room = cfg.max_fit_views - MIN_FIT_TRAIN * per_image
    kept, notes = set(), []
    for kind, ids, room in (("goods", goods, good_room), ("defects", defects, cfg.max_defect_views)):
        sample = fit_sample(len(ids), 0, per_image, max_views=room, seed=cfg.seed)
        kept |= set(ids) if sample is None else {ids[i] for i in sample}
        if sample is not None:
            notes.append(f"{len(sample)} of the {len(ids)} validation {kind} (at most {room} views)")
    if not notes:
        return val_s, None
    note = f"judged on a seeded sample of {' and '.join(notes)}: {per_image} views per image stay in memory"
    return [s for i, s in enumerate(val_s) if i in kept], note


def held_out_goods(
    cfg: AnomalyConfig, train_all: list, fitted: list, val_all: list, judging: list, geometry: Geometry
) -> tuple[list, str | None]:
    """The good images the chosen model's heads never fitted on (sampled out by `fit_goods` or
    `judging_sample`), to score with the deployed model and calibrate on; a seeded sample of at most
    `max_fit_views` views of them (the time of about one more fit's extraction); and what was done."""
    kept = {s.path for s in fitted} | {s.path for s in judging}
    left = [s for s in train_all if s.path not in kept] + [s for s in val_all if s.is_good and s.path not in kept]
    if not left:
        return [], None
    sample = fit_sample(len(left), 0, geometry.num_tiles, max_views=cfg.max_fit_views, seed=cfg.seed)
    chosen = left if sample is None else [left[i] for i in sample]
    note = (
        f"calibrated also on {len(chosen)} of the {len(left)} goods left out of the fit, scored by the deployed "
        "model (it never saw them)"
    )
    return chosen, note
