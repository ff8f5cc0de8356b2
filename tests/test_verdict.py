"""The three-way verdict's rules (inspector.verdict): each gate, the order, tightening, the band, the result type."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.bundle.schema import BundleMetadata
from inspector.errors import BundleError
from inspector.result import InspectionResult
from inspector.synthetic import make_part
from inspector.verdict import REASON_CODES, Gates, Quality, Reason, Tightening, Verdict, measure

GATES = {
    "version": 1,
    "brightness": [80.0, 190.0],
    "max_clipped": 0.05,
    "min_focus": 2.0,
    "max_ood": 40.0,
    "frame": {"min_size": [48, 48], "aspect": [0.8, 1.25]},
}
GOOD = Quality(brightness=130.0, clipped=0.0, focus=5.0)


def decide(
    quality: Quality = GOOD,
    ood: float | None = 20.0,
    shape: tuple[int, int] = (96, 96),
    score: float = 0.1,
    gates: Gates | None = None,
    problem: str = "",
):
    gates = gates or Gates.from_bundle(GATES, (64, 64))
    return gates.decide(score, 1.0, quality, ood, shape, problem)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"shape": (30, 96)}, Reason.SIZE),
        ({"shape": (96, 200)}, Reason.SIZE),
        ({"quality": Quality(10.0, 0.0, 5.0)}, Reason.DARK),
        ({"quality": Quality(240.0, 0.0, 5.0)}, Reason.BRIGHT),
        ({"quality": Quality(130.0, 0.2, 5.0)}, Reason.EXPOSURE),
        ({"quality": Quality(130.0, 0.0, 0.5)}, Reason.FOCUS),
        ({"problem": "part not found: nothing"}, Reason.ALIGNMENT),
        ({"ood": 55.0}, Reason.OUT_OF_DISTRIBUTION),
    ],
)
def test_each_gate_gives_unsure_with_its_reason(kwargs: dict, reason: Reason) -> None:
    decision = decide(**kwargs)
    assert decision.verdict is Verdict.UNSURE and decision.reason is reason and decision.detail


def test_a_frame_within_every_gate_is_judged_by_the_threshold_and_the_first_failing_gate_wins() -> None:
    assert decide(score=0.5).verdict is Verdict.OK and decide(score=1.5).verdict is Verdict.NG
    assert decide(score=1.5).reason is None
    black = Quality(0.0, 1.0, 0.0)  # dark, clipped and without focus: dark is checked first
    assert decide(quality=black, ood=90.0).reason is Reason.DARK


def test_the_station_tightens_but_never_loosens_and_sets_the_band() -> None:
    gates = Gates.from_bundle(GATES, (64, 64)).tightened(Tightening(min_focus=4.0, max_ood=60.0, unsure_band=0.1))
    assert gates.min_focus == 4.0 and gates.max_ood == 40.0  # 60 would loosen: ignored, and named
    assert gates.ignored and "max_ood" in gates.ignored[0]
    assert decide(quality=Quality(130.0, 0.0, 3.0), gates=gates).reason is Reason.FOCUS
    near = gates.decide(1.05, 1.0, GOOD, 20.0, (96, 96))
    assert near.verdict is Verdict.UNSURE and near.reason is Reason.NEAR_THRESHOLD
    assert gates.decide(1.2, 1.0, GOOD, 20.0, (96, 96)).verdict is Verdict.NG


def test_a_bundle_without_gates_only_checks_the_frame_size() -> None:
    gates = Gates.from_bundle(None, (64, 64))
    assert not gates.needs_quality and gates.max_ood is None
    assert gates.decide(0.1, 1.0, None, None, (15, 64)).reason is Reason.SIZE
    assert gates.decide(0.1, 1.0, None, None, (16, 400)).verdict is Verdict.OK


def test_measures_separate_sharp_blurred_and_black_views() -> None:
    part = make_part(np.random.default_rng(0), size=(64, 64)).image
    sharp, blurred = measure(part), measure(cv2.GaussianBlur(part, (0, 0), 2))
    black = measure(np.zeros((64, 64, 3), np.uint8))
    assert blurred.focus < 0.25 * sharp.focus and sharp.clipped == 0.0
    assert black.brightness == 0.0 and black.clipped == 1.0 and black.focus == 0.0


def test_result_type_ties_unsure_to_a_reason() -> None:
    made = InspectionResult(
        score=5.0, threshold=1.0, verdict=Verdict.UNSURE, model_fingerprint="f", reason=Reason.FOCUS
    )
    assert made.is_unsure and not made.is_ng and made.reason_code == "focus"
    with pytest.raises(ValueError, match="needs a reason"):
        InspectionResult(score=0.1, threshold=1.0, verdict=Verdict.UNSURE, model_fingerprint="f")
    with pytest.raises(ValueError, match="only UNSURE"):
        InspectionResult(score=0.1, threshold=1.0, verdict=Verdict.OK, model_fingerprint="f", reason=Reason.DARK)
    assert sorted(REASON_CODES.values()) == list(range(1, len(Reason) + 1))
    assert REASON_CODES[Reason.SIZE] == 1 and REASON_CODES[Reason.NEAR_THRESHOLD] == 8  # the PLC's numbers


def _meta(**changes) -> dict[str, str]:
    meta = BundleMetadata(
        task="anomaly",
        class_names=["good", "defect"],
        input_size=(64, 64),
        threshold=1.0,
        threshold_method={},
        backbone="b",
        method="m",
        data_fingerprint="d",
        gates=GATES,
    )
    props = meta.to_props()
    props.update({f"inspector.{k}": v for k, v in changes.items()})
    return props


def test_gates_travel_in_the_bundle_and_bad_ones_are_refused(tmp_path: Path) -> None:
    assert BundleMetadata.from_props(_meta()).gates == GATES
    without = {k: v for k, v in _meta().items() if k != "inspector.gates"}
    assert BundleMetadata.from_props(without).gates is None  # bundles from before gates still load
    for bad in ({"brightness": [200, 100]}, {"max_ood": "high"}, {"frame": {"min_size": [0, 48]}}, [1, 2]):
        with pytest.raises(BundleError, match="gates"):
            BundleMetadata.from_props(_meta(gates=json.dumps(bad)))
