"""Shared fixtures: small synthetic datasets and real bundles trained and exported by the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
MAGNETIC_TILE = REPO.parent / "shared" / "datasets" / "magnetic-tile"
TEST_SIZE = 64  # model input size for fast end-to-end tests


def _torch_available() -> bool:
    try:
        import timm  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    from inspector.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synthetic") / "data", size=(96, 96), n_train=16, n_val=8,
                         n_test=8, n_defect=4, seed=0)


def _train_and_export(tmp: Path, data: Path, method: str) -> tuple[Path, Path]:
    from export.cli import export_run
    from training.anomaly import AnomalyConfig, train_anomaly

    run = tmp / f"run_{method}"
    train_anomaly(AnomalyConfig(data=data, out=run, image_size=TEST_SIZE, method=method, coreset_size=256,
                                target_frr=0.1, progress=False))
    bundle = tmp / f"{method}.onnx"
    export_run(run, bundle)
    return run, bundle


@pytest.fixture(scope="session")
def patchcore_bundle(tmp_path_factory, synthetic_data) -> tuple[Path, Path]:
    """(run folder, bundle path) of a PatchCore model trained on the synthetic data."""
    if not _torch_available():
        pytest.skip("needs the 'train' extra (torch, timm)")
    return _train_and_export(tmp_path_factory.mktemp("pc"), synthetic_data, "patchcore")


@pytest.fixture(scope="session")
def padim_bundle(tmp_path_factory, synthetic_data) -> tuple[Path, Path]:
    if not _torch_available():
        pytest.skip("needs the 'train' extra (torch, timm)")
    return _train_and_export(tmp_path_factory.mktemp("padim"), synthetic_data, "padim")
