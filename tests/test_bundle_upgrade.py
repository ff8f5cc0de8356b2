"""Schema versions: a newer runtime reads every older bundle through `upgrade()`, one test per version."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest

from inspector.bundle import PREFIX, SCHEMA_VERSION, BundleMetadata, upgrade, write_sidecar
from inspector.engine import Engine
from inspector.errors import BundleError
from inspector.model import load_bundle

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo.onnx"


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _with_props(src: Path, dst: Path, changes: dict[str, str | None]) -> Path:
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        props.pop(PREFIX + key, None) if value is None else props.__setitem__(PREFIX + key, value)
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=k, value=v) for k, v in props.items())
    onnx.save_model(model, str(dst))
    write_sidecar(dst)
    return dst


def test_a_version_1_bundle_is_read_as_stretched_and_untiled(tmp_path) -> None:
    v1 = _with_props(DEMO, tmp_path / "v1.onnx", {"schema_version": "1", "resize": None, "geometry": None})
    bundle = load_bundle(v1)
    assert bundle.metadata.schema_version == SCHEMA_VERSION == 2
    assert bundle.metadata.resize == "stretch" and bundle.metadata.geometry == {}
    image = (pytest.importorskip("numpy").random.default_rng(0).integers(0, 255, (50, 300, 3))).astype("uint8")
    assert Engine(bundle).prepare(image).shape == (*bundle.input_size, 3)  # stretched, as v1 promised


def test_upgrade_keeps_what_a_version_already_says() -> None:
    props = upgrade({PREFIX + "schema_version": "1", PREFIX + "resize": "stretch"}, 1)
    assert props[PREFIX + "schema_version"] == "2" and props[PREFIX + "geometry"] == "{}"
    current = {PREFIX + "schema_version": "2", PREFIX + "resize": "letterbox"}
    assert upgrade(current, 2) == current


def test_an_unknown_resize_policy_is_refused(tmp_path) -> None:
    bad = _with_props(DEMO, tmp_path / "bad.onnx", {"schema_version": "2", "resize": "fisheye"})
    with pytest.raises(BundleError, match="resize policy 'fisheye' is unknown"):
        load_bundle(bad)


def test_the_current_schema_round_trips() -> None:
    meta = BundleMetadata(task="anomaly", class_names=["good", "scratch"], input_size=(64, 384), threshold=1.5,
                          threshold_method={}, backbone="b", method="patchcore", data_fingerprint="f",
                          resize="letterbox", geometry={"tile": [64, 64], "num_tiles": 7})
    again = BundleMetadata.from_props(meta.to_props())
    assert again == meta
