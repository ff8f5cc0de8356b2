"""Opening a verified bundle as an onnxruntime session (the runtime's only way to run a model)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from inspector.bundle.schema import BundleMetadata, outputs_for
from inspector.bundle.verify import check_model, parse_model, read_verified
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
            raise BundleError(
                f"provider {requested!r} is not installed (available: {available})",
                "pick one of the available providers or install its onnxruntime build",
            )
        return [match] if match == "CPUExecutionProvider" else [match, "CPUExecutionProvider"]
    return [p for p in PROVIDER_PREFERENCE if p in available] or available


def load_bundle(
    path: str | os.PathLike,
    *,
    provider: str | None = None,
    threads: int | None = None,
    spin: bool = True,
    trusted_keys: Sequence[Path] = (),
) -> Bundle:
    """Verify a bundle (checksum, signature when `trusted_keys` are given, single file, schema, I/O) and open
    it; BundleError names what is wrong."""
    path = Path(path)
    name = str(path)
    data, digest = read_verified(path, trusted_keys)
    meta = check_model(parse_model(data, name), name)
    try:
        session = ort.InferenceSession(
            data, sess_options=session_options(threads, spin=spin), providers=choose_providers(provider)
        )
    except Exception as exc:  # onnxruntime raises RuntimeError subclasses of its own
        raise BundleError(f"{name}: onnxruntime cannot load the model ({exc})", "re-export the model") from exc
    return Bundle(path=path, fingerprint=digest, metadata=meta, session=session)
