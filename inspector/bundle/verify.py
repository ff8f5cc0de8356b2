"""Verifying a bundle before anything runs it: checksum sidecar, one file, schema, inputs and outputs.

`read_verified` is the one place bundle bytes are read and trusted; given trusted keys, it also checks the
bundle's signature (inspector.signing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from inspector.atomic import atomic_write
from inspector.bundle.schema import INPUT_NAME, BundleMetadata, outputs_for
from inspector.errors import BundleError

if TYPE_CHECKING:
    from inspector.signing import PublicKey

SIDECAR_SUFFIX = ".sha256"
SCHEMA_FIX = "re-export the model with `inspector export`; bundles must follow docs/model-bundle.md"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def write_sidecar(model_path: Path) -> str:
    """Write `<model>.sha256` in sha256sum format; returns the digest."""
    digest = sha256_bytes(model_path.read_bytes())
    atomic_write(sidecar_path(model_path), f"{digest}  {model_path.name}\n")
    return digest


def _expected_digest(model_path: Path) -> str:
    side = sidecar_path(model_path)
    if not side.is_file():
        raise BundleError(
            f"{model_path}: no checksum sidecar {side.name} beside it",
            f"copy {side.name} with the model, or write it: sha256sum {model_path.name} > {side.name}",
        )
    text = side.read_text().split()
    if not text or len(text[0]) != 64:
        raise BundleError(
            f"{side}: not a SHA-256 checksum file", f"rewrite it: sha256sum {model_path.name} > {side.name}"
        )
    return text[0].lower()


def read_verified(model_path: Path, trusted_keys: Sequence[Path | PublicKey] = ()) -> tuple[bytes, str]:
    """The bundle's bytes and SHA-256, refusing a file whose digest differs from its sidecar.

    With `trusted_keys` (public key files, a station's `[model] trusted_keys`) the bundle must also carry
    a valid signature by one of them (`inspector.signing.verify_signature`).
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise BundleError(f"{model_path}: model file not found", "check the --model path")
    data = model_path.read_bytes()
    digest = sha256_bytes(data)
    expected = _expected_digest(model_path)
    if digest != expected:
        raise BundleError(
            f"{model_path}: SHA-256 {digest[:16]}… differs from its sidecar ({expected[:16]}…): "
            "the file was modified or is incomplete",
            "copy the bundle again from its source, or re-export it",
        )
    if trusted_keys:
        # cryptography is imported only where keys are listed
        from inspector.signing import verify_signature

        verify_signature(model_path, digest, trusted_keys)
    return data, digest


def parse_model(data: bytes, name: str) -> onnx.ModelProto:
    """The ONNX model in `data`; BundleError when it is not ONNX."""
    try:
        return onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises its own DecodeError types
        raise BundleError(f"{name}: not a valid ONNX file ({exc})", "re-export the model") from exc


def read_metadata(model: onnx.ModelProto, name: str = "bundle") -> BundleMetadata:
    """The bundle metadata stored in `model` (older schema versions upgraded), validated."""
    return BundleMetadata.from_props({p.key: p.value for p in model.metadata_props}, name)


def _check_no_external_data(model: onnx.ModelProto, name: str) -> None:
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(attr.t for attr in node.attribute if attr.type == onnx.AttributeProto.TENSOR)
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise BundleError(
                f"{name}: tensor {tensor.name!r} is stored as external data; a bundle must be one file",
                "re-export with `inspector export` (it writes a single .onnx file)",
            )


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


def _check_io(model: onnx.ModelProto, meta: BundleMetadata, name: str) -> None:
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise BundleError(
            f"{name}: inputs {[i.name for i in inputs]} do not match the schema (one input 'image')", SCHEMA_FIX
        )
    image = inputs[0]
    if image.type.tensor_type.elem_type != onnx.TensorProto.UINT8:
        raise BundleError(f"{name}: input 'image' must be uint8", SCHEMA_FIX)
    dims = _dims(image)
    height, width = meta.input_size
    if len(dims) != 4 or dims[1:] != [height, width, 3] or isinstance(dims[0], int):
        raise BundleError(
            f"{name}: input 'image' has shape {dims}, expected [N, {height}, {width}, 3] (NHWC RGB)", SCHEMA_FIX
        )
    expected = list(outputs_for(meta.task))
    found = [o.name for o in model.graph.output]
    if found != expected:
        raise BundleError(
            f"{name}: outputs {found} do not match the schema {expected} for task {meta.task!r}", SCHEMA_FIX
        )


def check_model(model: onnx.ModelProto, name: str) -> BundleMetadata:
    """Refuse a model that is not one file, has no valid metadata, or whose I/O breaks the schema."""
    _check_no_external_data(model, name)
    meta = read_metadata(model, name)
    _check_io(model, meta, name)
    return meta
