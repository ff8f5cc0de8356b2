"""Fitting the anomaly heads on features of good images: PaDiM Gaussians and a PatchCore coreset."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from training.anomaly_model import to_blocks


@torch.inference_mode()
def extract_features(
    module: torch.nn.Module,
    images: Sequence[np.ndarray],
    batch_size: int = 16,
    desc: str = "features",
    progress: bool = True,
    *,
    split: Callable[[np.ndarray], Sequence[np.ndarray]] | None = None,
    views_per_image: int = 1,
    reserve: int = 0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run `module` over uint8 HxWx3 images (already at model size) in batches -> [N * views_per_image, C, h, w].

    `split` cuts each image into its `views_per_image` views (tiles) as the batches need them, so the views of
    all images never sit in memory at once. The features go into one tensor (no concatenation of chunks, which
    held them twice): `out` where given, else a new one with `reserve` rows to spare after them (filled by a
    later call's `out`).
    """
    total = len(images) * views_per_image
    row = 0
    pending: list[np.ndarray] = []
    bar = tqdm(total=len(images), desc=desc, unit="img", disable=not progress, leave=False)

    def run(views: list[np.ndarray]) -> None:
        nonlocal out, row
        features = module(torch.from_numpy(np.stack(views)))
        if out is None:
            out = torch.empty((total + reserve, *features.shape[1:]), dtype=features.dtype)
        out[row : row + len(features)] = features
        row += len(features)

    for image in images:
        pending.extend([image] if split is None else split(image))
        while len(pending) >= batch_size:
            run(pending[:batch_size])
            del pending[:batch_size]
        bar.update(1)
    if pending:
        run(pending)
    bar.close()
    if out is None:  # no images: the module's output shape is not known without one
        raise ValueError("extract_features needs at least one image")
    return out


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's intra-op threads set to `count` inside the block, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class PadimSums:
    """Sufficient statistics of PaDiM: per-position sums [P, C] and per-block sums of outer products [B, C, C].

    A fit on any subset of images follows from sums (all images' less the held-out ones'), so the
    out-of-fold models of CV+ cost one pass over the held-out fold instead of a refit each.
    """

    def __init__(self, first: torch.Tensor, second: torch.Tensor, count: int) -> None:
        self.first, self.second, self.count = first, second, count

    @classmethod
    def of(cls, features: torch.Tensor, block: int) -> PadimSums:
        n, c, h, w = features.shape
        x = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
        grouped = to_blocks(x, h, w, block).double()  # [B, N*b*b, C]: one float copy, then float64
        return cls(x.sum(0, dtype=torch.float64), grouped.transpose(1, 2) @ grouped, n)

    def __add__(self, other: PadimSums) -> PadimSums:
        return PadimSums(self.first + other.first, self.second + other.second, self.count + other.count)

    def __sub__(self, other: PadimSums) -> PadimSums:
        return PadimSums(self.first - other.first, self.second - other.second, self.count - other.count)

    def fit(self, grid: tuple[int, int], block: int, regularisation: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-position mean [P, C] and regularised inverse covariance [B, C, C] per block of positions."""
        h, w = grid
        n, c = self.count, self.first.shape[1]
        mean = self.first / n
        blocked = to_blocks(mean[None], h, w, block)  # [B, b*b, C]
        scatter = self.second - n * (blocked.transpose(1, 2) @ blocked)
        cov = scatter / max(n * block * block - 1, 1)
        cov += regularisation * torch.eye(c, dtype=cov.dtype)
        # Cholesky: the covariances are symmetric positive definite, and MKL's batched LU inverse
        # (torch.linalg.inv) fails on some AMD CPUs ("Parameter 6 was incorrect on entry to DLASWP").
        # One thread: two syncing at every small batched LAPACK call ran 2-7x slower on a shared 2-core box.
        with torch_threads(1):
            inv_cov = torch.cholesky_inverse(torch.linalg.cholesky(cov))
        inv_cov = 0.5 * (inv_cov + inv_cov.transpose(1, 2))
        return mean.float(), inv_cov.float()


def fit_padim(features: torch.Tensor, block: int, regularisation: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position mean [P, C] and regularised inverse covariance [B, C, C] per block of positions."""
    return PadimSums.of(features, block).fit(tuple(features.shape[2:]), block, regularisation)


PROBE_STEPS = 32
"""Coreset steps timed on one thread and on all before the rest run on the faster (see greedy_coreset)."""

MAX_CANDIDATES = 256_000
"""Training patches the coreset chooses from (a seeded sample beyond that). On AITEX's 1.8M tile patches,
64k candidates left rare good textures out of the bank: test AUROC 0.881-0.907 over three seeds against
0.917-0.921 with 256k (and 0.913-0.914 with 600k or all); 4x the coreset's steps' work (docs/benchmarks.md)."""


@torch.inference_mode()
def greedy_coreset(
    points: torch.Tensor,
    size: int,
    *,
    projection_dim: int = 64,
    seed: int = 0,
    progress: bool = True,
    chosen: torch.Tensor | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> torch.Tensor:
    """Indices of a k-center greedy coreset (PatchCore), selected in a random projection.

    `chosen` (indices into `points`) starts the coreset with those points; greedy steps add the rest. Each step
    is one memory-bound pass over the points: on a quiet 2-core machine two threads ran them 1.6x faster than
    one, on a shared one 2x slower. So PROBE_STEPS steps are timed (by `clock`) on one thread and on all, and
    the rest run on the faster; the coreset is the same either way (each distance is one thread's sum).
    """
    m, c = points.shape
    if size >= m:
        return torch.arange(m)
    generator = torch.Generator().manual_seed(seed)
    if c > projection_dim:
        projection = torch.randn(c, projection_dim, generator=generator) / projection_dim**0.5
        reduced = points @ projection
    else:
        reduced = points
    reduced_t = reduced.T.contiguous()  # [d, m]: q @ reduced_t streams rows, 2x faster than reduced @ q
    norms = (reduced * reduced).sum(1)
    start = int(torch.randint(m, (1,), generator=generator))
    first = torch.tensor([start]) if chosen is None or not len(chosen) else chosen.long()
    selected = torch.empty(size, dtype=torch.long)
    selected[: len(first)] = first
    min_d2 = torch.full((m,), float("inf"))
    for block in first.split(16):  # [m, 16] distance blocks (16 MB at 256k points): one GEMM each
        near = torch.addmm(norms[block][None, :], reduced, reduced_t[:, block], alpha=-2.0).amin(1)
        torch.minimum(min_d2, near, out=min_d2)
    min_d2 += norms
    d2 = torch.empty_like(min_d2)

    def step(i: int) -> None:
        index = int(torch.argmax(min_d2))
        selected[i] = index
        torch.addmv(norms, reduced_t.T, reduced[index], alpha=-2.0, out=d2)  # one pass: ||p||^2 - 2 p.x
        torch.minimum(min_d2, d2.add_(norms[index]), out=min_d2)

    bar = tqdm(total=size - len(first), desc="coreset", unit="pt", disable=not progress, leave=False, miniters=256)
    done, threads, best = len(first), torch.get_num_threads(), 1
    if threads > 1 and size - done > 4 * PROBE_STEPS:  # time both, then run the rest on the faster
        took = {}
        for count in (1, threads):
            with torch_threads(count):
                started = clock()
                for i in range(done, done + PROBE_STEPS):
                    step(i)
                took[count] = clock() - started
            done += PROBE_STEPS
            bar.update(PROBE_STEPS)
        best = min(took, key=took.__getitem__)
    with torch_threads(best):
        for i in range(done, size):
            step(i)
            bar.update(1)
    bar.close()
    return selected


def patch_rows(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows `index` of the [N*h*w, C] patch matrix of [N, C, h, w] features, without building all of it."""
    per_image = features.shape[2] * features.shape[3]
    return features.flatten(2)[index // per_image, :, index % per_image].contiguous()


def candidates(patches: int, max_candidates: int, seed: int) -> torch.Tensor:
    """The training patches (row-major over N, h, w) the coreset chooses from: all, or a seeded sample."""
    if patches <= max_candidates:
        return torch.arange(patches)
    return torch.randperm(patches, generator=torch.Generator().manual_seed(seed))[:max_candidates]


def fit_patchcore(
    features: torch.Tensor,
    *,
    bank_size: int,
    max_candidates: int = MAX_CANDIDATES,
    seed: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Memory bank [M, C] by greedy coreset over (a seeded subsample of) all training patches, and the
    index of each bank row's patch in `features` (row-major over N, h, w: its image is index // (h*w))."""
    source = candidates(features.shape[0] * features.shape[2] * features.shape[3], max_candidates, seed)
    patches = patch_rows(features, source)
    index = greedy_coreset(patches, bank_size, seed=seed, progress=progress)
    return patches[index].contiguous(), source[index]


REFILL_CANDIDATES = 64_000
"""Other candidates a fold's refill chooses from (a seeded sample): the refill adds about a fifth of the bank."""


def refill_patchcore(
    features: torch.Tensor,
    bank_source: torch.Tensor,
    held: torch.Tensor,
    *,
    max_candidates: int = MAX_CANDIDATES,
    seed: int = 0,
) -> torch.Tensor:
    """The bank of a model that never saw the held-out patches (`held`: a mask over all patches), for CV+.

    The full bank's rows from other patches are kept and greedy steps over the other candidates refill it to
    its size, as a refit on the other images would (the bank less the held-out rows alone is smaller and
    misses what those rows covered, so held-out scores err high: AITEX's median out-of-fold score sat 6 %
    above the validation good images', against 1 % after the refill).
    """
    kept = bank_source[~held[bank_source]]
    source = candidates(len(held), max_candidates, seed)
    source = source[~held[source]]
    source = source[torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))[:REFILL_CANDIDATES]]
    source = torch.cat([kept, source[~torch.isin(source, kept)]])  # the kept rows first: positions 0 .. len(kept)-1
    patches = patch_rows(features, source)
    index = greedy_coreset(patches, len(bank_source), seed=seed, progress=False, chosen=torch.arange(len(kept)))
    return patches[index].contiguous()
