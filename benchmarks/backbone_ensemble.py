"""PaDiM on several backbones, alone and as an ensemble of normalised scores, at the operating point.

Usage: python benchmarks/backbone_ensemble.py --data ../shared/datasets/magnetic-tile [--cache-dir /tmp/feats]

For each backbone: the default geometry's features (the onnxruntime path `inspector train` uses), PaDiM
fitted on training and validation goods as `inspector train` fits it, the validation goods and up to 400
training goods scored out of fold (CV+), the CV+ threshold at target FRR 1 %, and the test split scored.
Ensembles: each member's scores standardised by its own out-of-fold good scores (what a plant has), then
averaged; the ensemble is calibrated on its own out-of-fold scores like any head. Prints a markdown table:
test AUROC, detection and FRR at the CV+ threshold, and detection at observed test FRR 1 % (an oracle).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from detection_variants import features  # the same cached extraction (this folder is on sys.path)

from inspector.metrics import roc_auc
from training.anomaly_model import AnomalyMap, default_sigma
from training.calibration import calibrate
from training.heads import Scorer, fit_head, out_of_fold


def padim_scores(f: dict) -> dict:
    """Pooled PaDiM fit; out-of-fold goods, validation defects and test scores."""
    size = tuple(f["size"])
    post = AnomalyMap(size, default_sigma(size), (size[0] // 8, size[1] // 8))
    val_good = f["val"][torch.tensor([label == "good" for label in f["val_labels"]])]
    n_train, n_val = len(f["train"]), len(val_good)
    good = torch.cat([f["train"], val_good])
    head, extra = fit_head("padim", good, coreset_size=2048, seed=0, progress=False)
    scorer = Scorer(head, post, None, extra["channels"])
    val_ids = np.arange(n_train, n_train + n_val)
    oof = out_of_fold("padim", good, head, extra, post, None, images=n_train + n_val, seed=0, always=val_ids)
    return {
        "train_oof": oof.scores[:n_train],  # NaN where not scored (the same images for every backbone)
        "val_good": oof.scores[val_ids],
        "test": scorer(f["test"])[0],
        "test_defect": np.array([label != "good" for label in f["test_labels"]]),
    }


def standardised(s: dict) -> dict:
    """Scores as z against the member's own out-of-fold good scores."""
    good = np.concatenate([s["train_oof"][~np.isnan(s["train_oof"])], s["val_good"]])
    mu, sd = float(np.mean(good)), float(np.std(good)) + 1e-9
    return {k: (v - mu) / sd if k != "test_defect" else v for k, v in s.items()}


def row(name: str, s: dict, target: float = 0.01) -> dict:
    train_oof = s["train_oof"][~np.isnan(s["train_oof"])]
    threshold = calibrate(train_oof, s["val_good"], target)["threshold"]
    test, defect = s["test"], s["test_defect"]
    good = test[~defect]
    oracle = float(np.sort(good)[int(np.ceil((1 - target) * len(good))) - 1])
    return {
        "variant": name,
        "test AUROC": roc_auc(defect, test),
        "det@CV+": float(np.mean(test[defect] > threshold)),
        "FRR@CV+": float(np.mean(good > threshold)),
        "det@obs 1 %": float(np.mean(test[defect] > oracle)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--backbones", default="tf_efficientnet_lite0,tf_efficientnet_lite1,tf_efficientnet_lite2")
    parser.add_argument("--cache-dir", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    names = args.backbones.split(",")
    if args.cache_dir is not None:
        args.cache_dir.mkdir(parents=True, exist_ok=True)

    def cache(backbone: str) -> Path | None:
        return None if args.cache_dir is None else args.cache_dir / f"{args.data.name}-{backbone}.pt"

    scores = {b: padim_scores(features(args.data, cache(b), b)) for b in names}
    rows = [row(b, s) for b, s in scores.items()]
    z = {b: standardised(s) for b, s in scores.items()}
    for k in range(2, len(names) + 1):
        for members in itertools.combinations(names, k):
            mean = {
                key: (np.mean([z[b][key] for b in members], 0) if key != "test_defect" else z[members[0]][key])
                for key in z[members[0]]
            }
            rows.append(row(" + ".join(m.replace("tf_efficientnet_", "") for m in members), mean))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
