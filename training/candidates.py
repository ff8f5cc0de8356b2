"""The candidates `inspector train` chooses between: each method on each alignment option, fitted and judged.

An alignment option's `Views` are the features the heads fit and are judged on; a `Candidate` is one
method fitted on them, scored out of fold (CV+), calibrated and judged on the validation defects (real,
or synthetic where there are none). Alignment is one more choice the same judgement makes: where the
rule in training/alignment.py proposes aligning, the aligned and the unaligned views compete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from training.alignment import align_all
from training.anomaly_model import AnomalyMap
from training.calibration import calibrate
from training.config import AnomalyConfig
from training.gates import image_gates
from training.heads import OutOfFold, Scorer, fit_head, out_of_fold
from training.selection import judge
from training.synthetic_defects import SyntheticDefect, synthetic_defects
from training.tiling import Tiler


class Extract(Protocol):
    """Images -> features of their views (training.anomaly.Extractor)."""

    @property
    def views_per_image(self) -> int: ...

    def __call__(
        self, images: list[np.ndarray], desc: str, *, reserve: int = 0, out: torch.Tensor | None = None
    ) -> torch.Tensor: ...


@dataclass
class Views:
    """One alignment option's features: the goods the heads fit on (training, then validation goods), the
    validation defects, and the synthetic defects with the good image each was drawn on."""

    alignment: dict | None
    good: torch.Tensor
    defects: torch.Tensor
    companions: tuple[torch.Tensor, np.ndarray] | None
    synthetic: int
    n_train: int
    n_good: int
    gates: dict
    not_found: dict[str, int]

    @property
    def val_good_ids(self) -> np.ndarray:
        return np.arange(self.n_train, self.n_good)


def build_views(
    extract: Extract,
    cfg: AnomalyConfig,
    train_img: list[np.ndarray],
    frame_sizes: list[tuple[int, int]],
    val_img: list[np.ndarray],
    val_defect: np.ndarray,
    alignment: dict | None,
    drawn: list[SyntheticDefect] | None = None,
) -> Views:
    """Align (when `alignment` is set), extract features and draw synthetic defects on the validation goods.

    `drawn`: defects already drawn on the (unaligned) validation goods at this size, where several geometries
    compete on the same ones (`rescale_defects`); they are aligned like the images.
    """
    suffix = "" if alignment is None else " (aligned)"
    n_train, n_val_good = len(train_img), int((~val_defect).sum())
    train_a, _, missing_train = align_all(train_img, None, alignment)
    gates = image_gates(train_a, frame_sizes)  # the verdict gates (UNSURE), on the views the model sees
    # The heads fit on every good image, validation goods too; each of those is scored out of fold (CV+),
    # so it still calibrates the threshold and judges the candidates as an image the model never saw. The
    # validation goods' features go into the rows reserved after the training goods': one tensor, no copy.
    per = extract.views_per_image
    good_f = extract(train_a, "train features" + suffix, reserve=n_val_good * per)
    del train_a
    val_a, _, missing_val = align_all(val_img, None, alignment)
    val_good = [im for im, d in zip(val_a, val_defect, strict=True) if not d]
    if val_good:
        extract(val_good, "val good features" + suffix, out=good_f[n_train * per :])
    val_bad = [im for im, d in zip(val_a, val_defect, strict=True) if d]
    defects_f = extract(val_bad, "val defect features" + suffix) if val_bad else good_f[:0]
    if drawn is None:
        synth = synthetic_defects(val_good, cfg.synthetic_defects, cfg.seed)
    else:
        moved, masks, _ = align_all([d.image for d in drawn], [d.mask for d in drawn], alignment)
        synth = [d._replace(image=im, mask=m) for d, im, m in zip(drawn, moved, masks, strict=True)]
    del val_a, val_good, val_bad
    synth_f = extract([d.image for d in synth], "synthetic defects" + suffix) if synth else None
    companions = (synth_f, n_train + np.array([d.source for d in synth])) if synth_f is not None else None
    return Views(
        alignment,
        good_f,
        defects_f,
        companions,
        len(synth),
        n_train,
        n_train + n_val_good,
        gates,
        {"train": missing_train, "val": missing_val},
    )


@dataclass
class Candidate:
    """One method fitted on one option's views: its head, out-of-fold scores, threshold and judgement."""

    method: str
    views: Views
    head: torch.nn.Module
    extra: dict
    scorer: Scorer
    val_scores: np.ndarray
    deployed: dict
    oof: OutOfFold
    defect_maps: np.ndarray
    judged: dict
    fit_seconds: float


def fit_candidate(
    method: str,
    views: Views,
    post: AnomalyMap,
    tiler: Tiler | None,
    cfg: AnomalyConfig,
    val_defect: np.ndarray,
    extract_seconds: float,
) -> Candidate:
    """Fit `method` on every good view, score the validation goods out of fold, calibrate and judge."""
    t0 = time.perf_counter()
    head, extra = fit_head(method, views.good, coreset_size=cfg.coreset_size, seed=cfg.seed, progress=cfg.progress)
    scorer = Scorer(head, post, tiler, extra["channels"])
    oof = out_of_fold(
        method,
        views.good,
        head,
        extra,
        post,
        tiler,
        images=views.n_good,
        seed=cfg.seed,
        always=views.val_good_ids,
        companions=views.companions,
    )
    val_scores = np.zeros(len(val_defect), np.float32)
    val_scores[~val_defect] = oof.scores[views.val_good_ids]
    defect_scores, defect_maps = scorer(views.defects, keep_maps=True)
    val_scores[val_defect] = defect_scores
    deployed = calibrate(oof.among(slice(0, views.n_train)), val_scores[~val_defect], cfg.target_frr)
    judged = judge(val_scores, val_defect, oof.companion_scores, deployed["threshold"])
    judged["fit_good"] = views.n_good  # training and validation goods its head fitted on
    if views.alignment is not None:
        judged["parts_not_found"] = views.not_found
    seconds = round(extract_seconds + time.perf_counter() - t0, 2)
    return Candidate(method, views, head, extra, scorer, val_scores, deployed, oof, defect_maps, judged, seconds)


def alignment_rule(proposed: dict | None, rule: str, fitted: dict[str, Candidate], chosen: str) -> str:
    """Why the chosen model aligns or not: the rule's reason, and where both competed, which won."""
    if proposed is None:
        return rule
    aligned = fitted[chosen].views.alignment is not None
    rivals = "unaligned" if aligned else "aligned"
    return f"{'on' if aligned else 'off'}: {chosen} won against the {rivals} candidates (proposed by the rule: {rule})"
