"""Fitting and scoring the anomaly heads on patch features, with or without tiling, and out-of-fold scores.

Features of tiled images are image-major: image i's T tiles are rows i*T .. i*T+T-1.
"""

from __future__ import annotations

import numpy as np
import torch

from training.anomaly_model import AnomalyMap, PadimHead, PatchCoreHead, padim_layout
from training.calibration import fold_indices
from training.fit import PadimSums, fit_patchcore, refill_patchcore
from training.tiling import Tiler


def fit_head(
    method: str, train: torch.Tensor, *, coreset_size: int, seed: int, progress: bool
) -> tuple[torch.nn.Module, dict]:
    """The fitted head and what export and out-of-fold scoring need (channels kept, bank sources)."""
    _, c, h, w = train.shape
    if method == "padim":
        block, channels = padim_layout(c, (h, w))
        keep = None
        if channels < c:
            generator = torch.Generator().manual_seed(seed)
            keep = torch.randperm(c, generator=generator)[:channels].sort().values
            train = train.index_select(1, keep)
        sums = PadimSums.of(train, block)
        mean, inv_cov = sums.fit((h, w), block)
        return PadimHead(mean, inv_cov, (h, w), block), {"block": block, "channels": keep, "sums": sums}
    size = min(coreset_size, max(1, train.shape[0] * h * w // 10))
    bank, source = fit_patchcore(train, bank_size=size, seed=seed, progress=progress)
    return PatchCoreHead(bank), {"bank_size": int(bank.shape[0]), "channels": None, "bank_source": source}


HEAD_VIEWS = 32
"""Views (tiles or images) per head call, at most."""

DISTANCE_BYTES = 16_000_000
"""PatchCore's distance matrix (views x patches x bank chunk floats) per head call, at most. Under glibc's
32 MB mmap ceiling the allocator reuses it instead of mapping and zeroing fresh pages at every call: 1.6x
faster on 1024 patches x 2048 bank rows (2 views per call against 32)."""


def views_per_call(head: torch.nn.Module, patches: int) -> int:
    """Views per head call: HEAD_VIEWS, fewer for PatchCore so its distance matrix stays under DISTANCE_BYTES."""
    if isinstance(head, PatchCoreHead):
        per_view = patches * min(head.chunk, head.bank.shape[0]) * 4
        return max(1, min(HEAD_VIEWS, DISTANCE_BYTES // per_view))
    return HEAD_VIEWS


class Scorer:
    """Head -> (stitch) -> map and score, over batches of images' features."""

    def __init__(self, head: torch.nn.Module, post: AnomalyMap, tiler: Tiler | None, channels=None) -> None:
        self.head, self.post, self.tiler, self.channels = head, post, tiler, channels
        self.tiles = 1 if tiler is None else len(tiler.rows) * len(tiler.cols)

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor, batch: int = 16, keep_maps: bool = False):
        scores, maps = [], []
        per = self.tiles
        for start in range(0, len(features) // per, batch):
            f = features[start * per : (start + batch) * per]
            if self.channels is not None:
                f = f.index_select(1, self.channels)
            step = views_per_call(self.head, f.shape[2] * f.shape[3])
            d = torch.cat([self.head(f[i : i + step].float()) for i in range(0, len(f), step)])
            if self.tiler is not None:  # image-major -> tile-major, as Tiler.split orders them
                n = len(d) // per
                d = self.tiler.stitch(d.reshape(n, per, *d.shape[1:]).transpose(0, 1).reshape(-1, *d.shape[1:]))
            score, amap = self.post(d)
            scores.append(score)
            if keep_maps:
                maps.append(amap)
        if not scores:
            return np.zeros(0, np.float32), np.zeros((0, *self.post.output_size), np.float32)
        return torch.cat(scores).numpy(), (torch.cat(maps).numpy() if keep_maps else None)


MAX_OUT_OF_FOLD = 400
"""Training images scored out of fold at most (a seeded sample beyond that bounds the fit time)."""


def out_of_fold_scores(
    method: str,
    train: torch.Tensor,
    head: torch.nn.Module,
    extra: dict,
    post: AnomalyMap,
    tiler: Tiler | None,
    *,
    images: int,
    seed: int,
) -> np.ndarray:
    """Training images scored by a model that never saw their fold (CV+), at most MAX_OUT_OF_FOLD of them.

    PaDiM fits on the other folds (from the full fit's sums less the fold's). PatchCore scores against the
    full coreset less the fold's own rows, refilled to its size by greedy steps over other images' patches
    (`refill_patchcore`): the bank less those rows alone was smaller, and its scores erred high.
    """
    per = len(train) // images
    scored = np.random.default_rng(seed).permutation(images)[:MAX_OUT_OF_FOLD]
    out = np.full(images, np.nan)
    for fold in fold_indices(images, seed=seed):
        held = np.zeros(images, bool)
        held[fold] = True
        held_rows = torch.from_numpy(np.repeat(held, per))
        if method == "padim":
            f = train[held_rows]
            if extra["channels"] is not None:
                f = f.index_select(1, extra["channels"])
            mean, inv_cov = (extra["sums"] - PadimSums.of(f, extra["block"])).fit(head.grid, extra["block"])
            fold_head = PadimHead(mean, inv_cov, head.grid, extra["block"])
        else:
            held_patches = held_rows.repeat_interleave(train.shape[2] * train.shape[3])
            fold_head = PatchCoreHead(refill_patchcore(train, extra["bank_source"], held_patches, seed=seed))
        fold = np.intersect1d(fold, scored)
        scored_rows = torch.from_numpy(np.repeat(np.isin(np.arange(images), fold), per))
        scores, _ = Scorer(fold_head, post, tiler, extra["channels"])(train[scored_rows])
        out[fold] = scores
    return out[~np.isnan(out)]
