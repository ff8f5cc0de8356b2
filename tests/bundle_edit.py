"""Test helper: a copy of a real bundle with some `inspector.*` metadata values replaced (sidecar rewritten)."""

from __future__ import annotations

from pathlib import Path

import onnx

from inspector.bundle import PREFIX, write_sidecar


def with_props(source: Path, target: Path, **values: str) -> Path:
    """Copy `source` to `target` with metadata values replaced by the raw strings given; a valid checksum."""
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({PREFIX + key: value for key, value in values.items()})
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=k, value=v) for k, v in props.items())
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(target), save_as_external_data=False)
    write_sidecar(target)
    return target
