"""Multi-process training: `torchrun --nproc-per-node 2 -m training ...` with gloo on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_cpu_processes_train_a_classifier(tmp_path: Path) -> None:
    from inspector.synthetic import write_dataset

    data = write_dataset(
        tmp_path / "data",
        layout="folders",
        size=(64, 64),
        n_train=6,
        n_val=3,
        n_test=3,
        n_defect=4,
        defect_types=("scratch", "spot"),
        seed=2,
    )
    run = tmp_path / "run"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "training",
        "--data",
        str(data),
        "--task",
        "classify",
        "--out",
        str(run),
        "--image-size",
        "64",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--target-frr",
        "0.2",
        "--no-progress",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run / "run.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 2
    assert done.stdout.count("run written to") == 1  # only rank 0 writes and reports
    assert (run / "model.safetensors").is_file() and (run / "checkpoint.safetensors").is_file()

    from export.cli import export_run

    export_run(run, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx.sha256").is_file()


def test_weighted_distributed_sampler_splits_one_draw_between_ranks() -> None:
    from training.classify_data import class_weights, make_sampler

    targets = [0] * 12 + [1] * 3 + [2]
    shares = [list(make_sampler(targets, 3, "sampler", seed=5, rank=r, world=2)) for r in range(2)]
    single = list(make_sampler(targets, 3, "sampler", seed=5, rank=0, world=1))
    assert len(shares[0]) == len(shares[1]) == 8
    interleaved = [i for pair in zip(*shares, strict=True) for i in pair]
    assert interleaved == single  # the ranks take alternate items of the same seeded draw
    weights = class_weights(targets, 3)
    assert weights[2] > weights[1] > weights[0]  # rarer classes are drawn more often
