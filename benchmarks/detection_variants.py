"""Scoring variants on cached features, at the operating point: PaDiM against a trained discriminator.

Usage: python benchmarks/detection_variants.py --data ../shared/datasets/magnetic-tile [--cache feats.pt]

Extracts the default geometry's features once (the onnxruntime path `inspector train` uses), then
compares heads: PaDiM, one Gaussian shared by every position, discriminators. For each: validation and
test image AUROC, detection at the CV+ threshold (what ships), at the validation-only conformal threshold,
and at observed test FRR 1 % (an oracle, for comparison only). It also prints how out-of-fold scores sit
against validation good scores (the CV+ threshold's honesty). Prints a markdown table. Discriminators
follow SimpleNet: a small MLP on frozen patch features, trained to tell good patches from the same
patches plus Gaussian noise.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from inspector.data.dataset import load_dataset
from inspector.metrics import roc_auc
from inspector.threshold import conformal_threshold
from training.anomaly import Setup, geometries_for
from training.anomaly_model import AnomalyMap, PadimHead, default_sigma
from training.calibration import calibrate, fold_indices
from training.config import AnomalyConfig
from training.heads import Scorer, fit_head, out_of_fold
from training.images import load_samples


def default_setup(data: Path, backbone: str | None = None, image_size: int | None = None):
    """(dataset, Setup) of training's default geometry (tiled or not); `backbone` and `image_size` (the base
    side) None for training's defaults."""
    options = {"backbone": backbone, "image_size": image_size}
    cfg = AnomalyConfig(data=data, out=Path("."), progress=False, **{k: v for k, v in options.items() if v})
    dataset = load_dataset(data, seed=0)
    return dataset, Setup.build(cfg, geometries_for(cfg, dataset)[0])


def features(
    data: Path, cache: Path | None, backbone: str | None = None, image_size: int | None = None, built=None
) -> dict:
    """The default geometry's features (every tile's, image-major) of the training goods, validation and test
    splits, with their labels (cached in `cache` when given); arguments as `default_setup`, or `built`, its
    result where the caller has one."""
    if cache is not None and cache.is_file():
        return torch.load(cache)
    dataset, setup = built if built is not None else default_setup(data, backbone, image_size)
    geometry = setup.geometry
    out = {"size": geometry.input_size}
    for split, good in (("train", True), ("val", None), ("test", None)):
        samples = dataset.select(split=split, good=True) if good else dataset.select(split=split)
        images, _ = load_samples(samples, geometry.input_size, policy=geometry.resize)
        out[split] = setup.extract(images, split)
        out[split + "_labels"] = [s.label for s in samples]
    if cache is not None:
        torch.save(out, cache)
    return out


class Discriminator(torch.nn.Module):
    """Patch features -> anomaly logit per patch: standardise, adapt (linear), MLP (SimpleNet's head)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden: int = 256) -> None:
        super().__init__()
        c = mean.numel()
        self.register_buffer("mean", mean.view(1, c, 1, 1))
        self.register_buffer("std", std.view(1, c, 1, 1))
        self.adapt = torch.nn.Conv2d(c, c, 1)
        self.mlp = torch.nn.Sequential(
            torch.nn.Conv2d(c, hidden, 1), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(hidden, 1, 1)
        )
        torch.nn.init.eye_(self.adapt.weight.view(c, c))
        torch.nn.init.zeros_(self.adapt.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapt((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, h, w] -> [N, h, w], higher = more anomalous
        return -self.mlp(self.embed(x))[:, 0]


def shared_gaussian(train: torch.Tensor, regularisation: float = 0.01) -> PadimHead:
    """PaDiM's Mahalanobis distance to one Gaussian of every patch, whatever its position (it could tile)."""
    _, c, h, w = train.shape
    patches = train.permute(0, 2, 3, 1).reshape(-1, c).double()
    inv = torch.linalg.inv(torch.cov(patches.T) + regularisation * torch.eye(c, dtype=torch.float64)).float()
    block = math.gcd(h, w)  # the one inverse covariance, repeated for each block of positions
    inv = inv.expand((h // block) * (w // block), c, c).contiguous()
    return PadimHead(patches.mean(0).float().expand(h * w, c).contiguous(), inv, (h, w), block)


def fit_discriminator(
    train: torch.Tensor, *, noise: float, steps: int = 300, batch: int = 2048, seed: int = 0
) -> Discriminator:
    """SimpleNet: good patches against good patches + N(0, noise^2) in the adapted space, truncated L1 loss."""
    gen = torch.Generator().manual_seed(seed)
    c = train.shape[1]
    patches = train.permute(0, 2, 3, 1).reshape(-1, c)
    model = Discriminator(patches.mean(0), patches.std(0) + 1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    for _ in range(steps):
        x = patches[torch.randint(len(patches), (batch,), generator=gen)][:, :, None, None]
        e = model.embed(x)
        fake = e + noise * torch.randn(e.shape, generator=gen)
        good, bad = model.mlp(e)[:, 0, 0, 0], model.mlp(fake)[:, 0, 0, 0]
        loss = torch.relu(0.5 - good).mean() + torch.relu(0.5 + bad).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def defect_labels(f: dict) -> tuple[np.ndarray, np.ndarray]:
    """Whether each validation and test image of `features`' result is a defect."""
    return tuple(np.array([label != "good" for label in f[split + "_labels"]]) for split in ("val", "test"))


def print_table(rows: list[dict]) -> None:
    """The rows as one markdown table, floats to 4 digits."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        cells = (f"{r[k]:.4f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys)
        print("| " + " | ".join(cells) + " |")


def z_by_oof(scores: tuple[np.ndarray, ...], i: int) -> np.ndarray:
    """Scores `i` of (val, test, out-of-fold) z-scored by the out-of-fold goods', to sum heads' scores."""
    return (scores[i] - scores[2].mean()) / scores[2].std()


def operating(
    name: str,
    val: np.ndarray,
    val_defect: np.ndarray,
    test: np.ndarray,
    test_defect: np.ndarray,
    oof: np.ndarray | None,
    target: float = 0.01,
) -> dict:
    good = test[~test_defect]
    oracle = float(np.sort(good)[int(np.ceil((1 - target) * len(good))) - 1])
    val_only = conformal_threshold(val[~val_defect], target)["threshold"]
    row = {
        "variant": name,
        "val_auroc": roc_auc(val_defect, val),
        "test_auroc": roc_auc(test_defect, test),
        "det_val_only": float(np.mean(test[test_defect] > val_only)),
        "frr_val_only": float(np.mean(good > val_only)),
        "det_oracle_1pct": float(np.mean(test[test_defect] > oracle)),
    }
    if oof is not None:
        cv = calibrate(oof, val[~val_defect], target)["threshold"]
        row.update(
            det_cv=float(np.mean(test[test_defect] > cv)),
            frr_cv=float(np.mean(good > cv)),
            oof_median_over_val=float(np.median(oof) / np.median(val[~val_defect])),
            oof_q99_over_val=float(np.quantile(oof, 0.99) / np.quantile(val[~val_defect], 0.99)),
        )
    return row


def discriminator_oof(train: torch.Tensor, post, noise: float, seed: int = 0) -> np.ndarray:
    out = []
    for fold in fold_indices(len(train), seed=seed):
        held = np.zeros(len(train), bool)
        held[fold] = True
        model = fit_discriminator(train[torch.from_numpy(~held)], noise=noise, seed=seed)
        out.append(Scorer(model, post, None)(train[torch.from_numpy(held)])[0])
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--noise", default="0.5,1.0", help="discriminator noise std (standardised units; '' for none)")
    parser.add_argument("--no-oof", action="store_true", help="skip the discriminators' CV+ (5 refits each)")
    args = parser.parse_args()
    torch.manual_seed(0)
    f = features(args.data, args.cache)
    size = tuple(f["size"])
    train, val, test = f["train"], f["val"], f["test"]
    val_defect, test_defect = defect_labels(f)
    post = AnomalyMap(size, default_sigma(size), (size[0] // 8, size[1] // 8))
    rows = []
    head, extra = fit_head("padim", train, coreset_size=2048, seed=0, progress=False)
    scorer = Scorer(head, post, None, extra["channels"])
    oof = out_of_fold("padim", train, head, extra, post, None, images=len(train), seed=0).among(slice(None))
    rows.append(operating("PaDiM", scorer(val)[0], val_defect, scorer(test)[0], test_defect, oof))
    shared = Scorer(shared_gaussian(train), post, None)
    rows.append(
        operating("one Gaussian for every position", shared(val)[0], val_defect, shared(test)[0], test_defect, None)
    )
    for noise in (float(n) for n in args.noise.split(",") if n):
        t0 = time.perf_counter()
        model = fit_discriminator(train, noise=noise)
        seconds = time.perf_counter() - t0
        d = Scorer(model, post, None)
        d_oof = None if args.no_oof else discriminator_oof(train, post, noise)
        row = operating(f"discriminator, noise {noise}", d(val)[0], val_defect, d(test)[0], test_defect, d_oof)
        row["fit_s"] = round(seconds, 1)
        rows.append(row)
    print_table(rows)


if __name__ == "__main__":
    main()
