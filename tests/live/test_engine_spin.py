"""`[model] spin`: a station's inference threads do not busy-wait unless the config asks (real onnxruntime
sessions of the demo bundle; docs/benchmarks.md#spinning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.live.config import load_config
from inspector.live.station import build_engine

SPIN = "session.intra_op.allow_spinning"


def _config(folder: Path, model: Path, extra: str = "") -> Path:
    path = folder / "station.toml"
    path.write_text(
        f'schema_version = 1\nstation = "spin"\n[model]\npath = "{model}"\n{extra}\n'
        '[[cameras]]\nid = "cam1"\n[cameras.source]\nkind = "synthetic"\nfps = 10\nsize = 64\n'
    )
    return path


def _spinning(options: object) -> str:
    """The session's allow_spinning entry ("" when none is set: onnxruntime's default, spinning on)."""
    try:
        return str(options.get_session_config_entry(SPIN))  # type: ignore[attr-defined]
    except RuntimeError:  # "SessionOptions does not have configuration with key ..."
        return ""


@pytest.mark.parametrize(("extra", "expected"), [("", "0"), ("spin = false", "0"), ("spin = true", "")])
def test_spinning_follows_the_model_table(tmp_path: Path, bundle_path: Path, extra: str, expected: str) -> None:
    engine = build_engine(load_config(_config(tmp_path, bundle_path, extra)))
    assert _spinning(engine.bundle.session.get_session_options()) == expected


def test_spin_must_be_a_boolean(tmp_path: Path, bundle_path: Path) -> None:
    from inspector.errors import InspectorError

    with pytest.raises(InspectorError, match="spin"):
        load_config(_config(tmp_path, bundle_path, 'spin = "fast"'))
