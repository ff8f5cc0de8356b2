"""The bundle's optional `role`: a typer (classify, defect types only) round-trips; a bundle without the field
(every bundle before the typer) reads as a verdict model; a typer naming `good`, or a verdict model without
`good` first, is refused by name."""

from __future__ import annotations

import pytest

from inspector.bundle.schema import PREFIX, BundleMetadata
from inspector.errors import BundleError


def meta(**changes) -> BundleMetadata:
    values = {
        "task": "classify",
        "class_names": ["crack", "scratch"],
        "input_size": (64, 64),
        "threshold": 1.0,
        "threshold_method": {},
        "backbone": "b",
        "method": "cnn",
        "data_fingerprint": "d",
        "role": "typer",
    }
    return BundleMetadata(**{**values, **changes})


def test_a_typer_round_trips_and_an_older_bundle_is_a_verdict_model() -> None:
    typer = meta()
    assert BundleMetadata.from_props(typer.to_props()) == typer and typer.is_typer
    older = meta(class_names=["good", "crack"], role="verdict").to_props()
    del older[PREFIX + "role"]
    loaded = BundleMetadata.from_props(older)
    assert loaded.role == "verdict" and not loaded.is_typer


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"class_names": ["good", "crack"]}, "typer"),
        ({"task": "anomaly"}, "typer"),
        ({"role": "judge"}, "role"),
    ],
)
def test_an_inconsistent_role_is_refused(changes: dict, says: str) -> None:
    with pytest.raises(BundleError, match=says):
        meta(**changes)


def test_props_with_a_typer_naming_good_or_a_verdict_without_good_are_refused() -> None:
    props = meta().to_props()
    props[PREFIX + "class_names"] = '["good", "crack"]'
    with pytest.raises(BundleError, match="no 'good'"):
        BundleMetadata.from_props(props)
    props = meta(class_names=["good", "crack"], role="verdict").to_props()
    props[PREFIX + "class_names"] = '["crack", "scratch"]'
    with pytest.raises(BundleError, match="'good' first"):
        BundleMetadata.from_props(props)
