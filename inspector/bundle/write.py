"""Writing a bundle: metadata into the ONNX model, the file atomically, its checksum sidecar.

Export and quantize write bundle metadata only through `write_metadata`, so every key is the
schema's and every value passed its checks.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from inspector.atomic import atomic_write
from inspector.bundle.schema import PREFIX, BundleMetadata
from inspector.bundle.session import Bundle, load_bundle
from inspector.bundle.verify import write_sidecar


def write_metadata(model: onnx.ModelProto, meta: BundleMetadata) -> onnx.ModelProto:
    """Replace the model's `inspector.*` metadata_props with `meta` (other keys are kept); returns `model`."""
    others = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in others + sorted(meta.to_props().items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    return model


def save_bundle(model: onnx.ModelProto, out: str | os.PathLike) -> Bundle:
    """Save as one file (atomically), write the SHA-256 sidecar, and load it as the runtime would."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, model.SerializeToString())
    write_sidecar(out)
    return load_bundle(out)  # the runtime accepts what was written
