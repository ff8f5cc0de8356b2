"""Loading a verified bundle into an onnxruntime session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime as ort

from inspector.bundle import INPUT_NAME, BundleMetadata, outputs_for, read_verified
from inspector.errors import BundleError

PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


@dataclass
class Bundle:
    """A verified model bundle and its running onnxruntime session."""

    path: Path
    fingerprint: str  # SHA-256 of the file
    metadata: BundleMetadata
    session: ort.InferenceSession

    @property
    def input_size(self) -> tuple[int, int]:
        return self.metadata.input_size

    @property
    def output_names(self) -> tuple[str, ...]:
        return outputs_for(self.metadata.task)


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
    fix = "re-export the model with `inspector export`; bundles must follow docs/model-bundle.md"
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise BundleError(f"{name}: inputs {[i.name for i in inputs]} do not match the schema (one input 'image')", fix)
    image = inputs[0]
    if image.type.tensor_type.elem_type != onnx.TensorProto.UINT8:
        raise BundleError(f"{name}: input 'image' must be uint8", fix)
    dims = _dims(image)
    height, width = meta.input_size
    if len(dims) != 4 or dims[1:] != [height, width, 3] or isinstance(dims[0], int):
        raise BundleError(f"{name}: input 'image' has shape {dims}, expected [N, {height}, {width}, 3] (NHWC RGB)", fix)
    expected = list(outputs_for(meta.task))
    found = [o.name for o in model.graph.output]
    if found != expected:
        raise BundleError(f"{name}: outputs {found} do not match the schema {expected} for task {meta.task!r}", fix)


def session_options(threads: int | None = None, *, spin: bool = True) -> ort.SessionOptions:
    """Session options; `spin=False` stops idle intra-op threads busy-waiting, for callers that share
    the cores with other work between runs (batch decoding ahead of inference)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def choose_providers(requested: str | None = None) -> list[str]:
    """The best installed providers, or the one asked for (refused with a message if missing)."""
    available = ort.get_available_providers()
    if requested:
        wanted = requested if requested.endswith("ExecutionProvider") else f"{requested}ExecutionProvider"
        match = next((p for p in available if p.lower() == wanted.lower()), None)
        if match is None:
            raise BundleError(f"provider {requested!r} is not installed (available: {available})",
                              "pick one of the available providers or install its onnxruntime build")
        return [match] if match == "CPUExecutionProvider" else [match, "CPUExecutionProvider"]
    return [p for p in PROVIDER_PREFERENCE if p in available] or available


def load_bundle(path: str | os.PathLike, *, provider: str | None = None, threads: int | None = None,
                spin: bool = True) -> Bundle:
    """Verify a bundle (checksum, single file, schema, I/O) and open it; BundleError names what is wrong."""
    path = Path(path)
    name = str(path)
    data, digest = read_verified(path)
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises its own DecodeError types
        raise BundleError(f"{name}: not a valid ONNX file ({exc})", "re-export the model") from exc
    _check_no_external_data(model, name)
    props = {p.key: p.value for p in model.metadata_props}
    meta = BundleMetadata.from_props(props, name)
    _check_io(model, meta, name)
    try:
        session = ort.InferenceSession(data, sess_options=session_options(threads, spin=spin), providers=choose_providers(provider))
    except Exception as exc:  # onnxruntime raises RuntimeError subclasses of its own
        raise BundleError(f"{name}: onnxruntime cannot load the model ({exc})", "re-export the model") from exc
    return Bundle(path=path, fingerprint=digest, metadata=meta, session=session)
