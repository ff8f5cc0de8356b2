"""Schema versions: a newer runtime reads every older bundle through `upgrade()`, one test per version."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pytest

from inspector.bundle.schema import PREFIX, SCHEMA_VERSION, BundleMetadata, upgrade
from inspector.bundle.session import load_bundle
from inspector.bundle.verify import read_metadata, read_verified, write_sidecar
from inspector.bundle.write import save_bundle, write_metadata
from inspector.engine import Engine
from inspector.errors import BundleError

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo.onnx"


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
    meta = BundleMetadata(
        task="anomaly",
        class_names=["good", "scratch"],
        input_size=(64, 384),
        threshold=1.5,
        threshold_method={},
        backbone="b",
        method="patchcore",
        data_fingerprint="f",
        resize="letterbox",
        geometry={"tile": [64, 64], "num_tiles": 7},
    )
    again = BundleMetadata.from_props(meta.to_props())
    assert again == meta


def test_a_version_2_bundle_that_does_not_state_its_precision_is_fp32(tmp_path) -> None:
    v2 = _with_props(DEMO, tmp_path / "v2.onnx", {"schema_version": "2", "precision": None})
    assert load_bundle(v2).metadata.precision == "fp32"
    int8 = _with_props(DEMO, tmp_path / "int8.onnx", {"precision": "int8"})
    assert load_bundle(int8).metadata.precision == "int8"  # what quantize writes is read back, not dropped


def test_an_unknown_precision_is_refused(tmp_path) -> None:
    bad = _with_props(DEMO, tmp_path / "bad.onnx", {"precision": "int4"})
    with pytest.raises(BundleError, match="precision 'int4' is unknown"):
        load_bundle(bad)


def test_a_version_the_runtime_does_not_know_is_refused(tmp_path) -> None:
    future = _with_props(DEMO, tmp_path / "v3.onnx", {"schema_version": str(SCHEMA_VERSION + 1)})
    with pytest.raises(BundleError, match=f"schema version {SCHEMA_VERSION + 1} is unknown"):
        load_bundle(future)


def test_write_metadata_replaces_the_inspector_keys_and_keeps_the_others(tmp_path) -> None:
    model = onnx.load(str(DEMO))
    model.metadata_props.append(onnx.StringStringEntryProto(key="vendor.note", value="kept"))
    meta = dataclasses.replace(read_metadata(model), threshold=0.25, precision="fp16")
    write_metadata(model, meta)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["vendor.note"] == "kept" and props[PREFIX + "precision"] == "fp16"
    assert len([k for k in props if k.startswith(PREFIX)]) == len(meta.to_props())
    bundle = save_bundle(model, tmp_path / "restamped.onnx")  # file, sidecar and the runtime's own checks
    assert bundle.metadata == meta


def test_asking_for_a_signature_check_refuses_rather_than_skipping_it(tmp_path: Path) -> None:
    from inspector.signing import new_key  # the check itself is tested in tests/test_signing.py

    _, trusted, _ = new_key(tmp_path, "plant")
    with pytest.raises(BundleError, match="not signed"):
        read_verified(DEMO, trusted_keys=[trusted])
