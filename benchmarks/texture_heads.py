"""Heads for tiled textures: PatchCore (training's only method on tiles) against one Gaussian shared by every
patch, and their sum, at the operating point.

Usage: python benchmarks/texture_heads.py --data ../shared/datasets/aitex [--cache feats.pt]

Features of the default (tiled) geometry are extracted once. PatchCore fits as in training (coreset 2048) and
is scored out of fold (CV+); the shared Gaussian (detection_variants.shared_gaussian) is refitted per fold.
The sum z-scores each head by its own out-of-fold goods. Columns as in detection_variants.py; validation
AUROC is nan where validation has no defects. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from detection_variants import default_setup, defect_labels, features, operating, print_table, shared_gaussian, z_by_oof

from training.calibration import fold_indices
from training.heads import Scorer, _rows, fit_head, out_of_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    built = default_setup(args.data)
    setup = built[1]
    f = features(args.data, args.cache, built=built)
    train, per = f["train"], setup.extract.views_per_image
    images = len(train) // per
    labels = defect_labels(f)
    scores = {}
    head, extra = fit_head("patchcore", train, coreset_size=2048, seed=0, progress=False)
    scorer = Scorer(head, setup.post, setup.tiler)
    oof = out_of_fold("patchcore", train, head, extra, setup.post, setup.tiler, images=images, seed=0)
    scores["PatchCore"] = (scorer(f["val"])[0], scorer(f["test"])[0], oof.among(slice(None)))
    for regularisation in (0.01, 1.0):
        scorer = Scorer(shared_gaussian(train, regularisation), setup.post, setup.tiler)
        oof_scores = np.zeros(images, np.float32)
        for fold in fold_indices(images, seed=0):
            held = _rows(fold, images, per)
            fold_scorer = Scorer(shared_gaussian(train[~held], regularisation), setup.post, setup.tiler)
            oof_scores[fold] = fold_scorer(train[held])[0]
        scores[f"shared Gaussian, regularisation {regularisation}"] = (
            scorer(f["val"])[0],
            scorer(f["test"])[0],
            oof_scores,
        )
    for name in [n for n in scores if n != "PatchCore"]:
        scores[f"z-sum PatchCore + {name}"] = tuple(
            z_by_oof(scores["PatchCore"], i) + z_by_oof(scores[name], i) for i in range(3)
        )
    rows = [operating(name, val, labels[0], test, labels[1], oof) for name, (val, test, oof) in scores.items()]
    print_table(rows)


if __name__ == "__main__":
    main()
