"""Shared fixtures: small synthetic datasets and real bundles trained and exported by the project."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
MAGNETIC_TILE = REPO.parent / "shared" / "datasets" / "magnetic-tile"
TEST_SIZE = 64  # model input size for fast end-to-end tests


@pytest.fixture(autouse=True)
def _inspector_logging_restored() -> Iterator[None]:
    """A CLI test's `setup_logging` points the `inspector` logger at that test's captured stderr, which closes
    when the test ends; put the logger back so a later test's threads never log into a closed stream."""
    logger = logging.getLogger("inspector")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)  # setLevel, not `.level =`: it also drops the loggers' cached isEnabledFor answers
    logger.propagate = propagate


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

    return write_dataset(
        tmp_path_factory.mktemp("synthetic") / "data", size=(96, 96), n_train=16, n_val=8, n_test=8, n_defect=4, seed=0
    )


def _train_and_export(tmp: Path, data: Path, method: str) -> tuple[Path, Path]:
    from export.cli import export_run
    from training.anomaly import AnomalyConfig, train_anomaly

    run = tmp / f"run_{method}"
    train_anomaly(
        AnomalyConfig(
            data=data, out=run, image_size=TEST_SIZE, method=method, coreset_size=256, target_frr=0.1, progress=False
        )
    )
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


@pytest.fixture(scope="session")
def tiled_bundle(tmp_path_factory) -> tuple[Path, dict, Path]:
    """(bundle, run summary, data) of a model on 64x384 strips: at a 64 px base one view would shrink them
    2.4x, so the model tiles (7 tiles of 64x64)."""
    if not _torch_available():
        pytest.skip("needs the 'train' extra (torch, timm)")
    from export.cli import export_run
    from inspector.synthetic import write_dataset
    from training.anomaly import AnomalyConfig, train_anomaly

    tmp = tmp_path_factory.mktemp("tiled")
    data = write_dataset(tmp / "data", size=(64, 384), n_train=12, n_val=6, n_test=6, n_defect=3, seed=0)
    summary = train_anomaly(
        AnomalyConfig(data=data, out=tmp / "run", image_size=64, coreset_size=256, target_frr=0.1, progress=False)
    )
    export_run(tmp / "run", tmp / "tiled.onnx")
    return tmp / "tiled.onnx", summary, data
