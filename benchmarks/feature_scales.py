"""Which backbone stages and which input scales PaDiM reads, at the operating point (untiled geometries).

Usage: python benchmarks/feature_scales.py --data ../shared/datasets/magnetic-tile [--stages 8,16 4,8,16]
       [--sizes 256,192,320] [--cache-dir DIR]

Each variant's features are extracted once (the onnxruntime path `inspector train` uses; cached in
--cache-dir), PaDiM fits on the training goods and is scored out of fold (CV+). Rows: one per stage set (by
stride) at the default base 256, one per base size, and the sums of the sizes' scores, each normalised by
its own out-of-fold goods (z-score). Columns as in detection_variants.py. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from detection_variants import defect_labels, features, operating, print_table, z_by_oof

import training.anomaly
from training.anomaly_model import AnomalyMap, default_sigma
from training.heads import Scorer, fit_head, out_of_fold


def padim_scores(f: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation, test and out-of-fold training-good scores of PaDiM fitted on `f`'s training goods."""
    size, train = tuple(f["size"]), f["train"]
    post = AnomalyMap(size, default_sigma(size), tuple(train.shape[2:]))
    head, extra = fit_head("padim", train, coreset_size=2048, seed=0, progress=False)
    scorer = Scorer(head, post, None, extra["channels"])
    oof = out_of_fold("padim", train, head, extra, post, None, images=len(train), seed=0).among(slice(None))
    return scorer(f["val"])[0], scorer(f["test"])[0], oof


def stage_picker(strides: list[int]):
    def pick(feature_info: list[dict]) -> list[int]:
        by_stride = {info["reduction"]: index for index, info in enumerate(feature_info)}
        return [by_stride[s] for s in strides]

    return pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--stages", nargs="*", default=["8,16", "4,8", "4,8,16", "8,16,32", "16,32"])
    parser.add_argument("--sizes", default="256,192,320", help="base sides, comma-separated")
    parser.add_argument("--cache-dir", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)

    def cache(name: str) -> Path | None:
        return None if args.cache_dir is None else args.cache_dir / f"{args.data.name}_{name}.pt"

    rows = []
    default_pick = training.anomaly.pick_stages
    try:
        for strides in args.stages:
            training.anomaly.pick_stages = stage_picker([int(s) for s in strides.split(",")])
            f = features(args.data, cache("stages_" + strides.replace(",", "-")))
            scores = padim_scores(f)
            rows.append(operating(f"strides {strides} ({f['train'].shape[1]} ch)", *_args(scores, defect_labels(f))))
    finally:
        training.anomaly.pick_stages = default_pick
    by_size = {}
    for size in (int(s) for s in args.sizes.split(",")):
        f = features(args.data, cache(f"size_{size}"), image_size=size)
        labels = defect_labels(f)
        by_size[size] = padim_scores(f)
        rows.append(operating(f"base {size} {tuple(f['size'])}", *_args(by_size[size], labels)))
    for r in range(2, len(by_size) + 1):
        for combo in itertools.combinations(by_size, r):
            summed = tuple(sum(z_by_oof(by_size[s], i) for s in combo) for i in range(3))
            rows.append(operating(f"z-sum of bases {combo}", *_args(summed, labels)))
    print_table(rows)


def _args(scores: tuple[np.ndarray, np.ndarray, np.ndarray], labels: tuple[np.ndarray, np.ndarray]) -> tuple:
    """`operating`'s arguments after its name: validation scores and labels, test scores and labels, out of fold."""
    val, test, oof = scores
    return val, labels[0], test, labels[1], oof


if __name__ == "__main__":
    main()
