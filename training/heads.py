"""Fitting and scoring the anomaly heads on patch features, with or without tiling, and out-of-fold scores.

Features of tiled images are image-major: image i's T tiles are rows i*T .. i*T+T-1.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce

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
        # The sums per CV+ fold, added up for the full fit: the fold models cost no second pass over the data.
        folds = {
            f.tobytes(): PadimSums.of(train[torch.from_numpy(f)], block) for f in fold_indices(len(train), seed=seed)
        }
        sums = reduce(operator.add, folds.values())
        mean, inv_cov = sums.fit((h, w), block)
        extra = {"block": block, "channels": keep, "sums": sums, "fold_sums": folds}
        return PadimHead(mean, inv_cov, (h, w), block), extra
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
        self.tiles = 1 if tiler is None else tiler.count

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


@dataclass
class OutOfFold:
    """Scores of images that the model scoring them never saw (CV+).

    `scores` holds one per pooled good image (NaN where not scored); `maps` the anomaly maps of the images
    asked for; `companion_scores`/`companion_maps` those of views drawn from a good image (synthetic
    defects), each scored by the model that did not see its source image.
    """

    scores: np.ndarray
    maps: dict[int, np.ndarray] = field(default_factory=dict)
    companion_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    companion_maps: list[np.ndarray] = field(default_factory=list)

    def among(self, ids: slice | np.ndarray) -> np.ndarray:
        """The scores of those of `ids` that were scored."""
        scores = self.scores[ids]
        return scores[~np.isnan(scores)]


def _fold_head(
    method: str,
    train: torch.Tensor,
    head: torch.nn.Module,
    extra: dict,
    fold: np.ndarray,
    held_rows: torch.Tensor,
    seed: int,
):
    """The model fitted without the held-out rows' images (of `fold`)."""
    if method == "padim":
        held = extra["fold_sums"].get(fold.tobytes())
        if held is None:  # folds of another seed than the fit's
            f = train[held_rows]
            if extra["channels"] is not None:
                f = f.index_select(1, extra["channels"])
            held = PadimSums.of(f, extra["block"])
        mean, inv_cov = (extra["sums"] - held).fit(head.grid, extra["block"])
        return PadimHead(mean, inv_cov, head.grid, extra["block"])
    held_patches = held_rows.repeat_interleave(train.shape[2] * train.shape[3])
    return PatchCoreHead(refill_patchcore(train, extra["bank_source"], held_patches, seed=seed))


def _rows(ids: np.ndarray, images: int, per: int) -> torch.Tensor:
    """Mask over feature rows (`per` per image) of the images `ids` of `images`."""
    return torch.from_numpy(np.repeat(np.isin(np.arange(images), ids), per))


def out_of_fold(
    method: str,
    train: torch.Tensor,
    head: torch.nn.Module,
    extra: dict,
    post: AnomalyMap,
    tiler: Tiler | None,
    *,
    images: int,
    seed: int,
    always: np.ndarray | None = None,
    companions: tuple[torch.Tensor, np.ndarray] | None = None,
) -> OutOfFold:
    """Good images scored by a model that never saw their fold (CV+).

    Scored: every image, those in `always` (the validation goods) with their maps; each once, by its fold's
    model, from features already in memory, so the fit's bound (MAX_FIT_VIEWS) bounds this too.
    `companions` (features, source image per view) are scored by the fold model of their source image.
    PaDiM fits on the other folds (from the full fit's sums less the fold's). PatchCore scores against the
    full coreset less the fold's own rows, refilled to its size by greedy steps over other images' patches
    (`refill_patchcore`): the bank less those rows alone was smaller, and its scores erred high.
    """
    per = len(train) // images
    always = np.zeros(0, int) if always is None else np.asarray(always, int)
    result = OutOfFold(np.full(images, np.nan, np.float32))
    comp_f, comp_src = companions if companions is not None else (None, np.zeros(0, int))
    comp_scores, comp_maps = np.zeros(len(comp_src), np.float32), [np.zeros(0, np.float32)] * len(comp_src)
    for fold in fold_indices(images, seed=seed):
        held = np.zeros(images, bool)
        held[fold] = True
        fold_head = _fold_head(method, train, head, extra, fold, torch.from_numpy(np.repeat(held, per)), seed)
        score = Scorer(fold_head, post, tiler, extra["channels"])
        mapped, plain = np.intersect1d(fold, always), np.setdiff1d(fold, always)
        for ids, keep in ((mapped, True), (plain, False)):
            if ids.size:
                scores, maps = score(train[_rows(ids, images, per)], keep_maps=keep)
                result.scores[ids] = scores
                if keep:
                    result.maps.update(zip(ids.tolist(), maps, strict=True))
        mine = np.flatnonzero(held[comp_src])
        if mine.size:  # companions given (comp_src is empty otherwise)
            scores, maps = score(comp_f[_rows(mine, len(comp_src), per)], keep_maps=True)
            comp_scores[mine] = scores
            for i, m in zip(mine.tolist(), maps, strict=True):
                comp_maps[i] = m
    result.companion_scores, result.companion_maps = comp_scores, comp_maps
    return result
