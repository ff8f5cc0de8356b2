"""The runtime refuses every bad bundle with a message naming the reason (table-driven)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto

from inspector.bundle.schema import PREFIX
from inspector.bundle.session import load_bundle
from inspector.bundle.verify import write_sidecar
from inspector.cli import main
from inspector.errors import BundleError

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo.onnx"


def _edit(mutate: Callable[[onnx.ModelProto, Path], None]) -> Callable[[Path], None]:
    """A case that rewrites the model and a matching sidecar (so the later checks are reached)."""

    def apply(path: Path) -> None:
        model = onnx.load(str(path))
        mutate(model, path)
        onnx.save_model(model, str(path), save_as_external_data=False)
        write_sidecar(path)

    return apply


def _set_prop(key: str, value: str | None):
    def mutate(model: onnx.ModelProto, _: Path) -> None:
        props = [p for p in model.metadata_props if p.key != PREFIX + key]
        del model.metadata_props[:]
        model.metadata_props.extend(props)
        if value is not None:
            model.metadata_props.append(onnx.StringStringEntryProto(key=PREFIX + key, value=value))

    return mutate


def _external(model: onnx.ModelProto, path: Path) -> None:
    biggest = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    onnx.external_data_helper.set_external_data(biggest, location="weights.bin")
    (path.parent / "weights.bin").write_bytes(biggest.raw_data)
    biggest.ClearField("raw_data")
    biggest.data_location = TensorProto.EXTERNAL


def _rename_output(model: onnx.ModelProto, _: Path) -> None:
    model.graph.output[0].name = "scores"
    for node in model.graph.node:
        node.output[:] = ["scores" if o == "score" else o for o in node.output]


def _float_input(model: onnx.ModelProto, _: Path) -> None:
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT


def _wrong_size(model: onnx.ModelProto, _: Path) -> None:
    _set_prop("input_size", "[320, 320]")(model, _)


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


CASES = [
    # (id, how to break it, words the message must contain)
    ("tampered bytes", _tamper, "differs from its sidecar"),
    ("no sidecar", lambda p: p.with_name(p.name + ".sha256").unlink(), "no checksum sidecar"),
    ("external data", _edit(_external), "external data"),
    ("no schema version", _edit(_set_prop("schema_version", None)), "schema_version"),
    ("unknown schema version", _edit(_set_prop("schema_version", "99")), "schema version 99 is unknown"),
    ("missing field", _edit(_set_prop("threshold", None)), "threshold is missing"),
    ("outputs renamed", _edit(_rename_output), "outputs"),
    ("input not uint8", _edit(_float_input), "must be uint8"),
    ("input size disagrees", _edit(_wrong_size), "expected [N, 320, 320, 3]"),
    ("not onnx", lambda p: (p.write_bytes(b"hello"), write_sidecar(p)), "not a valid ONNX file"),
]


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    target = tmp_path / "model.onnx"
    shutil.copy(DEMO, target)
    shutil.copy(DEMO.with_name("demo.onnx.sha256"), tmp_path / "model.onnx.sha256")
    return target


def test_the_demo_bundle_itself_loads(bundle_copy: Path) -> None:
    assert load_bundle(bundle_copy).metadata.task == "anomaly"


@pytest.mark.parametrize("case,breaker,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_bundle_is_refused(bundle_copy: Path, case: str, breaker, expected: str) -> None:
    breaker(bundle_copy)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    assert expected in str(info.value)
    assert str(bundle_copy) in str(info.value) or "model.onnx" in str(info.value)


def test_cli_refusal_is_one_message_and_exit_2(bundle_copy: Path, tmp_path: Path, capsys) -> None:
    _tamper(bundle_copy)
    code = main(["batch", str(tmp_path), "--model", str(bundle_copy), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "differs from its sidecar" in err and "Traceback" not in err
