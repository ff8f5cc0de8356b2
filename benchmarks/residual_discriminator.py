"""A discriminator on PaDiM's whitened residuals, trained against synthetic defects: measured, not kept.

Usage: python benchmarks/residual_discriminator.py --data ../shared/datasets/magnetic-tile [--cache feats.pt]

PaDiM's distance is the norm of the whitened residual z = L^T (f - mean) (inv_cov = L L^T). A small MLP on
(|z|, ||z||) learns which residuals are defects: out-of-fold residuals of the training goods (each scored by
the CV+ fold model that never saw it) against the patches inside synthetic defects drawn on the training goods
(training/synthetic_defects.py, scored by the fold model that never saw their source). The patch score is
||z|| + mix * softplus(logit): PaDiM's distance, raised where the MLP sees a defect. Validation goods are
neither fitted nor trained on, so the validation-only conformal threshold is honest. Runs on the default
geometry, tiles included (PaDiM on a tile's positions). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from detection_variants import default_setup, defect_labels, features, operating, print_table

from training.anomaly_model import PadimHead, to_blocks
from training.calibration import fold_indices
from training.heads import Scorer, _fold_head, _rows, fit_head
from training.images import load_samples
from training.synthetic_defects import synthetic_defects


class Whitened(torch.nn.Module):
    """Features [N, C, h, w] -> whitened residuals [N, h*w, C]; their norm is PaDiM's distance."""

    def __init__(self, head: PadimHead) -> None:
        super().__init__()
        self.mean, self.block = head.mean, head.block
        self.chol = torch.linalg.cholesky(head.inv_cov.double()).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        b = self.block
        z = to_blocks(x.permute(0, 2, 3, 1).reshape(n, h * w, c) - self.mean, h, w, b) @ self.chol
        return z.reshape(h // b, w // b, n, b, b, c).permute(2, 0, 3, 1, 4, 5).reshape(n, h * w, c)


def _inputs(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z.abs(), z.norm(dim=-1, keepdim=True)], -1)


class RefinedHead(torch.nn.Module):
    """Patch distance ||z|| + mix * softplus(MLP(|z|, ||z||)) [N, h, w]."""

    def __init__(self, head: PadimHead, mlp: torch.nn.Module, mix: float) -> None:
        super().__init__()
        self.whiten, self.mlp, self.mix = Whitened(head), mlp, mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        z = self.whiten(x)
        extra = torch.nn.functional.softplus(self.mlp(_inputs(z))[..., 0])
        return (z.norm(dim=-1) + self.mix * extra).view(n, h, w)


def synthetic_views(data: Path, built, count: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Features of `count` synthetic defects on the training goods, their masks per view on the patch grid,
    and each one's source image."""
    dataset, setup = built
    goods = dataset.select(split="train", good=True)
    images, _ = load_samples(goods, setup.geometry.input_size, policy=setup.geometry.resize)
    drawn = synthetic_defects(images, count, seed=1)
    feats = setup.extract([d.image for d in drawn], "synthetic")
    masks = torch.from_numpy(np.stack([d.mask.astype(np.float32) for d in drawn]))[..., None]
    if setup.tiler is not None:  # tile-major -> image-major, as the features
        t = setup.tiler.count
        masks = setup.tiler.split(masks)
        masks = masks.reshape(t, len(drawn), *masks.shape[1:]).transpose(0, 1).reshape(-1, *masks.shape[1:])
    h, w = feats.shape[2:]
    grid = [cv2.resize(m[..., 0].numpy(), (w, h), interpolation=cv2.INTER_AREA) for m in masks]
    return feats, torch.from_numpy(np.stack(grid)), np.array([d.source for d in drawn])


def training_residuals(train, head, extra, per: int, synth) -> tuple[torch.Tensor, torch.Tensor]:
    """(good, defect) whitened residuals, each from the fold model that never saw its image."""
    feats, masks, source = synth
    images = len(train) // per
    good, bad = [], []
    with torch.no_grad():
        for fold in fold_indices(images, seed=0):
            held = _rows(fold, images, per)
            whiten = Whitened(_fold_head("padim", train, head, extra, fold, held, 0))
            z = whiten(train[held]).reshape(-1, train.shape[1])
            good.append(z[torch.randperm(len(z))[:40000]])
            mine = _rows(np.flatnonzero(np.isin(source, fold)), len(source), per)
            bad.append(whiten(feats[mine]).reshape(-1, train.shape[1])[masks[mine].reshape(-1) > 0.25])
    return torch.cat(good), torch.cat(bad)


def train_mlp(good: torch.Tensor, bad: torch.Tensor, hidden: int = 64, steps: int = 400, seed: int = 0):
    """Balanced batches of good and defect residuals, binary cross-entropy."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    c = good.shape[1]
    mlp = torch.nn.Sequential(torch.nn.Linear(c + 1, hidden), torch.nn.LeakyReLU(0.2), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(steps):
        x = torch.cat(
            [
                good[torch.randint(len(good), (2048,), generator=generator)],
                bad[torch.randint(len(bad), (2048,), generator=generator)],
            ]
        )
        y = torch.cat([torch.zeros(2048), torch.ones(2048)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(mlp(_inputs(x))[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return mlp.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--mix", default="1,2,4")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    started = time.perf_counter()
    built = default_setup(args.data)
    f = features(args.data, args.cache, built=built)
    tiler, post = built[1].tiler, built[1].post
    per = 1 if tiler is None else tiler.count
    train, val, test = f["train"], f["val"], f["test"]
    val_defect, test_defect = defect_labels(f)
    head, extra = fit_head("padim", train, coreset_size=2048, seed=0, progress=False)
    good, bad = training_residuals(train, head, extra, per, synthetic_views(args.data, built, 2 * len(train) // per))
    print(f"features and residuals {time.perf_counter() - started:.0f} s; {len(good)} good, {len(bad)} defect patches")
    plain = Scorer(head, post, tiler, extra["channels"])
    rows = [operating("PaDiM", plain(val)[0], val_defect, plain(test)[0], test_defect, None)]
    for seed in (int(s) for s in args.seeds.split(",")):
        mlp = train_mlp(good, bad, seed=seed)
        for mix in (float(m) for m in args.mix.split(",")):
            s = Scorer(RefinedHead(head, mlp, mix), post, tiler, extra["channels"])
            rows.append(
                operating(f"refined, seed {seed}, mix {mix:g}", s(val)[0], val_defect, s(test)[0], test_defect, None)
            )
    print_table(rows)


if __name__ == "__main__":
    main()
