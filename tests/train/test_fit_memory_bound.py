"""The fit's memory is bounded: features go into one tensor, a large training set is sampled, and the test
split is scored in chunks (training.config.MAX_FIT_VIEWS, training.evaluation.TEST_CHUNK)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.samples import MIN_FIT_TRAIN, fit_sample

torch = pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

from training.fit import extract_features  # noqa: E402


@pytest.mark.parametrize(
    ("n_train", "n_val_good", "per_image", "max_views", "keep", "expected_len"),
    [
        (100, 20, 1, 6144, frozenset(), None),  # well within: everything fits
        (300, 40, 25, 6144, frozenset(), 6144 // 25 - 40),  # 1024x1024 parts in 25 tiles
        (300, 40, 25, 1000, frozenset(), MIN_FIT_TRAIN),  # the validation goods take the bound: a floor
        (300, 40, 25, 6144, frozenset({0, 299}), 6144 // 25 - 40),  # reviewed parts are kept, in the count
        (50, 10, 1, 60, frozenset(), None),  # exactly at the bound
    ],
)
def test_fit_sample(n_train, n_val_good, per_image, max_views, keep, expected_len) -> None:
    chosen = fit_sample(n_train, n_val_good, per_image, max_views=max_views, seed=0, keep=keep)
    if expected_len is None:
        assert chosen is None
        return
    assert len(chosen) == expected_len and len(set(chosen.tolist())) == expected_len
    assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < n_train
    assert keep <= set(chosen.tolist())
    again = fit_sample(n_train, n_val_good, per_image, max_views=max_views, seed=0, keep=keep)
    other = fit_sample(n_train, n_val_good, per_image, max_views=max_views, seed=1, keep=keep)
    assert np.array_equal(chosen, again) and not np.array_equal(chosen, other)


class _Recorder:
    """A feature module: the mean of each view, with the batch sizes it was called with."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(batch))
        return batch.float().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)


def test_views_are_cut_as_batches_need_them_and_written_into_one_tensor() -> None:
    images = [np.full((4, 6, 3), i, np.uint8) for i in range(5)]

    def split(image: np.ndarray) -> list[np.ndarray]:  # two "tiles" per image
        return [image[:, :3] + 100, image[:, 3:] + 200]

    module = _Recorder()
    out = extract_features(module, images, batch_size=3, progress=False, split=split, views_per_image=2, reserve=4)
    assert out.shape == (14, 1, 1, 1)
    assert out[:10, 0, 0, 0].tolist() == [v for i in range(5) for v in (100 + i, 200 + i)]  # image-major
    assert module.batches == [3, 3, 3, 1]  # the flat views' batches, as before: never more than batch_size
    tail = extract_features(
        module, images[:2], batch_size=3, progress=False, split=split, views_per_image=2, out=out[10:]
    )
    assert tail.data_ptr() == out[10:].data_ptr()  # written in place, no copy
    assert out[10:, 0, 0, 0].tolist() == [100, 200, 101, 201]


def test_no_images_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        extract_features(_Recorder(), [], progress=False)


@pytest.mark.parametrize(
    ("max_fit_views", "max_defect_views", "per_image", "goods", "defects", "says"),
    [
        (6144, 280, 7, 50, 40, "40 of the 100 validation defects (at most 280 views)"),
        (32 * 7 + 40 * 7, 6144, 7, 40, 100, "40 of the 50 validation goods (at most 280 views)"),
        (32 * 7 + 40 * 7, 280, 7, 40, 40, "goods (at most 280 views) and 40 of the 100 validation defects"),
        (6144, 280, 1, 50, 100, None),  # one view each: every image within both bounds
    ],
)
def test_the_validation_images_that_judge_are_sampled_within_their_bounds(
    max_fit_views, max_defect_views, per_image, goods, defects, says
) -> None:
    """Seeded samples sized by the most tiles any competing geometry cuts; the images keep their order."""
    from types import SimpleNamespace

    from training.anomaly import AnomalyConfig
    from training.geometry import Geometry
    from training.samples import judging_sample

    val = [SimpleNamespace(is_good=i % 3 == 0, name=i) for i in range(150)]  # 50 goods, 100 defects
    offsets = tuple(range(0, 53 * per_image, 53))
    geometries = [Geometry((64, 384), "letterbox", (64, 64), (0,), offsets), Geometry((64, 384), "letterbox")]

    def pick(seed: int) -> tuple[list, str | None]:
        bounds = {"max_fit_views": max_fit_views, "max_defect_views": max_defect_views}
        cfg = AnomalyConfig(Path("."), Path("."), seed=seed, **bounds)
        return judging_sample(cfg, val, geometries if per_image > 1 else geometries[1:])

    chosen, note = pick(0)
    assert sum(s.is_good for s in chosen) == goods and sum(not s.is_good for s in chosen) == defects
    assert [s.name for s in chosen] == sorted(s.name for s in chosen)
    if says is None:
        assert (chosen, note) == (val, None)
        return
    assert note is not None and says in note and f"{per_image} views per image" in note
    assert [s.name for s in pick(0)[0]] == [s.name for s in chosen] != [s.name for s in pick(1)[0]]


def test_a_large_training_set_fits_on_a_sample_and_says_so(tmp_path: Path) -> None:
    """40 strips of 64x384 (7 tiles each at a 64 px base) under a bound of 287 views: 35 training goods fit
    besides the 6 validation goods, the run says so, and the model still finds the strips' defects. The one
    view (a view per strip) fits on all 40. 36 validation defects under a bound of 224 views: 32 judge."""
    import cv2

    from inspector.data.dataset import load_dataset
    from inspector.synthetic import write_dataset
    from training.anomaly import AnomalyConfig, train_anomaly

    data = write_dataset(tmp_path / "data", size=(64, 384), n_train=40, n_val=6, n_test=6, n_defect=12, seed=0)
    # One of the 5 training goods the bound leaves out gets a defect: it is not fitted, so the deployed model
    # must score it high, and it must then head the images that set the threshold.
    goods = load_dataset(data, seed=0).select(split="train", good=True)
    fitted = set(fit_sample(40, 6, 7, max_views=287, seed=0).tolist())
    held = [s for i, s in enumerate(goods) if i not in fitted]
    odd = cv2.imread(str(held[0].path))
    cv2.circle(odd, (200, 32), 12, (0, 0, 0), -1)
    cv2.imwrite(str(held[0].path), odd)
    cfg = AnomalyConfig(
        data=data,
        out=tmp_path / "run",
        image_size=64,
        coreset_size=256,
        progress=False,
        max_fit_views=287,
        max_defect_views=224,
    )
    summary = train_anomaly(cfg)
    assert summary.counts["val"] == 6 + 36 and summary.counts["val_judged"] == 6 + 32
    val_note = summary.details["val_sample"]
    assert "32 of the 36 validation defects (at most 224 views)" in val_note and "goods" not in val_note
    assert "memory bound: " + val_note in (tmp_path / "run" / "report.md").read_text()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["val_sample"] == val_note
    assert summary.geometry["num_tiles"] == 7
    assert summary.counts["train_good"] == 40 and summary.counts["fit_train_good"] == 287 // 7 - 6 == 35
    assert summary.counts["fit_good"] == 35 + 6
    candidates = summary.details["method_selection"]["candidates"]
    assert candidates["patchcore"]["fit_good"] == candidates["padim"]["fit_good"] == 41  # both fit on the tiles
    assert candidates["patchcore, one view"]["fit_good"] == candidates["padim, one view"]["fit_good"] == 46
    note = summary.details["fit_sample"]
    assert "35 of the 40 training goods" in note and "at most 287 views (7 per image)" in note
    assert "memory bound: " + note in (tmp_path / "run" / "report.md").read_text()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["fit_sample"] == note
    assert summary.metrics["image_auroc"] >= 0.9
    # The 5 goods left out of the fit calibrate, scored by the deployed model.
    deployed = summary.thresholds["deployed"]
    assert summary.counts["calibration_held_out"] == deployed["n_held_out"] == 5
    assert deployed["n_calibration"] == deployed["n_out_of_fold"] + deployed["n_val_good"] + 5
    held_note = summary.details["calibration_held_out"]
    assert "calibrated also on 5 of the 5 goods left out of the fit" in held_note
    assert held_note in (tmp_path / "run" / "report.md").read_text()
    top = summary.details["threshold_setters"][0]
    assert top["image"] == str(held[0].path.resolve()) and top["split"] == "train, not fitted"
    assert top["at_or_above_threshold"]
