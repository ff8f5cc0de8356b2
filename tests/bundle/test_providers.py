"""Execution providers on a machine without a GPU: the default falls back to the CPU, a GPU provider
asked for by name is refused with a message naming what is installed (the CPU runs of the GPU path)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from inspector.bundle.session import PROVIDER_PREFERENCE, choose_providers, load_bundle
from inspector.cli import main
from inspector.errors import BundleError

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo.onnx"
GPU = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def test_default_is_the_best_installed_provider_in_preference_order() -> None:
    chosen = choose_providers()
    installed = ort.get_available_providers()
    assert chosen == [p for p in PROVIDER_PREFERENCE if p in installed]
    assert chosen[-1] == "CPUExecutionProvider"  # always there to fall back to
    session = load_bundle(DEMO).session
    assert session.get_providers()[0] == chosen[0]


def test_a_gpu_provider_keeps_the_cpu_behind_it_for_unsupported_nodes() -> None:
    installed = [p for p in GPU if p in ort.get_available_providers()]
    if not installed:
        pytest.skip("no GPU provider installed here (the refusal is tested below)")
    assert choose_providers(installed[0]) == [installed[0], "CPUExecutionProvider"]


@pytest.mark.parametrize("name", ["CUDA", "TensorrtExecutionProvider"])
def test_a_missing_gpu_provider_is_refused_naming_the_installed_ones(name: str) -> None:
    if any(p.lower().startswith(name.lower()[:4]) for p in ort.get_available_providers() if p in GPU):
        pytest.skip(f"{name} is installed here")
    with pytest.raises(BundleError, match=rf"provider '{name}' is not installed \(available: .*CPUExecutionProvider"):
        load_bundle(DEMO, provider=name)
    assert choose_providers("cpu") == ["CPUExecutionProvider"]  # case and suffix do not matter


def test_benchmark_with_a_missing_provider_exits_2_with_the_message(capsys) -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is installed here")
    assert main(["benchmark", "--model", str(DEMO), "--provider", "CUDA", "--seconds", "0.1", "--rounds", "1"]) == 2
    assert "CUDA" in capsys.readouterr().err
