"""The fast paths of the fit give the same models: PaDiM folds from sums, onnxruntime features, the coreset."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.fit import PadimSums, fit_padim, fit_patchcore, greedy_coreset, refill_patchcore  # noqa: E402
from training.onnx_features import OnnxFeatures  # noqa: E402


def _centred_padim(features: np.ndarray, block: int, regularisation: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """PaDiM by its definition: per-position mean, covariance around those means pooled over each block."""
    c, h, w = features.shape[1:]
    x = features.transpose(0, 2, 3, 1).astype(np.float64)  # [N, h, w, C]
    mean = x.mean(0)
    inv = []
    for by in range(0, h, block):
        for bx in range(0, w, block):
            d = (x[:, by : by + block, bx : bx + block] - mean[by : by + block, bx : bx + block]).reshape(-1, c)
            inv.append(np.linalg.inv(d.T @ d / (len(d) - 1) + regularisation * np.eye(c)))
    return mean.reshape(h * w, c), np.stack(inv)


def test_a_fold_model_from_sums_equals_a_fit_without_the_fold() -> None:
    rng = np.random.default_rng(0)
    features = torch.from_numpy((rng.normal(size=(30, 6, 4, 4)) * 2 + 3).astype(np.float32))
    held = np.zeros(30, bool)
    held[[1, 5, 7, 20, 29]] = True
    total = PadimSums.of(features, 2)
    mean, inv_cov = (total - PadimSums.of(features[torch.from_numpy(held)], 2)).fit((4, 4), 2)
    want_mean, want_inv = _centred_padim(features.numpy()[~held], 2)
    np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inv_cov.numpy(), want_inv, rtol=1e-4, atol=1e-5)
    _, full_inv = fit_padim(features, 2)
    np.testing.assert_allclose(full_inv.numpy(), _centred_padim(features.numpy(), 2)[1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(full_inv.numpy(), inv_cov.numpy(), atol=1e-3)  # the fold really was left out


def test_onnxruntime_features_match_the_torch_module() -> None:
    from training.anomaly import _features_module
    from training.config import AnomalyConfig

    module, _ = _features_module(AnomalyConfig(data=".", out="."), (64, 96))
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 64, 96, 3), dtype=np.uint8))
    with torch.inference_mode():
        want = module(images)
    got = OnnxFeatures(module, (64, 96))(images)
    assert got.shape == want.shape == (3, want.shape[1], 8, 12)
    assert float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())


def test_the_coreset_is_k_center_greedy() -> None:
    points = torch.from_numpy(np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32))
    picked = greedy_coreset(points, 20, projection_dim=64, seed=3, progress=False).tolist()
    assert len(set(picked)) == 20
    d2 = ((points[:, None] - points[None]) ** 2).sum(-1).double()
    for i in range(1, 20):  # each pick is the point farthest from those picked before it
        nearest = d2[:, picked[:i]].amin(1)
        assert float(nearest[picked[i]]) == pytest.approx(float(nearest.max()), rel=1e-4)


def test_a_coreset_started_from_chosen_points_goes_on_greedily() -> None:
    points = torch.from_numpy(np.random.default_rng(4).normal(size=(200, 5)).astype(np.float32))
    picked = greedy_coreset(points, 12, seed=0, progress=False, chosen=torch.tensor([3, 50, 7])).tolist()
    assert picked[:3] == [3, 50, 7] and len(set(picked)) == 12
    d2 = ((points[:, None] - points[None]) ** 2).sum(-1).double()
    for i in range(3, 12):
        nearest = d2[:, picked[:i]].amin(1)
        assert float(nearest[picked[i]]) == pytest.approx(float(nearest.max()), rel=1e-4)


class _Clock:
    """A fake clock: each probe's steps take `durations[probe]` seconds, and it records the thread count."""

    def __init__(self, durations: list[float]) -> None:
        self.durations, self.now, self.calls, self.threads = list(durations), 0.0, 0, []

    def __call__(self) -> float:
        self.threads.append(torch.get_num_threads())
        if self.calls % 2:  # the end of a probe
            self.now += self.durations[self.calls // 2]
        self.calls += 1
        return self.now


@pytest.mark.parametrize(
    ("durations", "expected_threads"), [([2.0, 1.0], 2), ([1.0, 2.0], 1)], ids=["two-faster", "one-faster"]
)
def test_the_coreset_runs_on_the_faster_thread_count_and_picks_the_same_points(
    durations, expected_threads, monkeypatch
) -> None:
    """The probe times a few steps on one thread and on two; the rest run on the faster, and whichever wins,
    the coreset is the same."""
    import training.fit as fit
    from training.fit import PROBE_STEPS

    entered: list[int] = []
    real = fit.torch_threads

    def recording(count: int):
        entered.append(count)
        return real(count)

    monkeypatch.setattr(fit, "torch_threads", recording)

    points = torch.from_numpy(np.random.default_rng(5).normal(size=(5000, 16)).astype(np.float32))
    size = 5 * PROBE_STEPS
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        clock = _Clock(durations)
        picked = greedy_coreset(points, size, seed=1, progress=False, clock=clock)
        assert clock.threads == [1, 1, 2, 2]  # the two probes: one thread, then two
        assert entered == [1, 2, expected_threads]  # then the rest on the faster
        assert torch.get_num_threads() == 2  # restored
        torch.set_num_threads(1)  # one thread only: no probe
        alone = greedy_coreset(points, size, seed=1, progress=False, clock=_Clock([]))
        assert entered[3:] == [1]
    finally:
        torch.set_num_threads(before)
    assert torch.equal(picked, alone)


def test_a_folds_refilled_bank_never_saw_the_fold_and_keeps_the_rest() -> None:
    """CV+ for PatchCore: the fold's rows leave the bank, other images' rows refill it to its size."""
    rng = np.random.default_rng(5)
    features = torch.from_numpy(rng.normal(size=(20, 6, 4, 4)).astype(np.float32))
    features[3] += 4.0  # an odd image: its patches are far from the rest, so the full bank holds many of them
    bank, source = fit_patchcore(features, bank_size=40, seed=0, progress=False)
    held = torch.zeros(20 * 16, dtype=torch.bool)
    held[3 * 16 : 4 * 16] = True
    assert held[source].sum() > 0
    refilled = refill_patchcore(features, source, held, seed=0)
    patches = features.permute(0, 2, 3, 1).reshape(-1, 6)
    assert refilled.shape == bank.shape
    matches = (refilled[:, None] == patches[None]).all(-1)  # [bank, patches]
    assert bool(matches.any(1).all()) and not bool(matches[:, held].any())
    kept = bank[~held[source]]
    assert bool((kept[:, None] == refilled[None]).all(-1).any(1).all())
