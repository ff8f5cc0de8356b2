"""Station config: the example validates; every kind of mistake names its field and the fix (exit 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.errors import InspectorError
from inspector.live.config import load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "station.example.toml"

GOOD = """\
schema_version = 1
station = "s1"
[model]
path = "model.onnx"
[[cameras]]
id = "cam0"
[cameras.source]
kind = "synthetic"
[[cameras]]
id = "cam1"
[cameras.source]
kind = "folder"
path = "imgs"
fps = 5
[sinks.http]
port = 9200
"""


def write(tmp_path: Path, text: str, model: bool = True) -> Path:
    if model:
        (tmp_path / "model.onnx").write_bytes(b"x")
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_example_validates(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, check_model=False)
    assert config.station == "press-line-3" and len(config.cameras) == 6
    assert {c.kind for c in config.cameras} == {"synthetic", "url", "device", "video", "folder", "genicam"}
    assert set(config.sinks) == {"sqlite", "mqtt", "opcua", "http"}
    assert config.sinks["sqlite"].path == "/var/lib/inspector/inspections.db"
    assert config.cameras[1].roi == (320, 180, 1280, 720) and config.threshold is None  # the demo's own (issue 11 #25)


def test_good_config_resolves_paths_and_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.model_path == (tmp_path / "model.onnx").resolve()
    assert config.cameras[0].max_fps == 30.0 and config.cameras[0].trigger == "free"
    assert config.cameras[0].source["fps"] == 10.0 and config.cameras[1].source["fps"] == 5.0
    assert {kind: dict(settings) for kind, settings in config.sinks.items()} == {
        "http": {"host": "127.0.0.1", "port": 9200, "control": True}
    }
    assert config.queue_size == 1 and config.threshold is None
    assert config.data_dir == tmp_path.resolve()  # no [storage]: the config file's folder, never the cwd
    sqlite = load_config(write(tmp_path, GOOD.replace("[sinks.http]", "[sinks.sqlite]\n[sinks.http]"))).sinks["sqlite"]
    assert sqlite.path == str(tmp_path.resolve() / "inspections.db") and sqlite.image_dir == str(
        tmp_path.resolve() / "images"
    )


def test_trusted_keys_are_paths_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "line3.pub").write_text("key")
    text = GOOD.replace('path = "model.onnx"', 'path = "model.onnx"\ntrusted_keys = ["keys/line3.pub"]', 1)
    config = load_config(write(tmp_path, text))
    assert config.model.trusted_keys == [(tmp_path / "keys" / "line3.pub").resolve()]
    assert load_config(write(tmp_path, GOOD)).model.trusted_keys == []  # none listed: signatures not required


CASES = [
    # (what, replace this, with this, expected message part, expected fix part)
    (
        "wrong type",
        'path = "imgs"\nfps = 5',
        'path = "imgs"\nfps = "fast"',
        "cameras[1].source.fps: expected a number, got 'fast'",
        "write fps = ",
    ),
    (
        "unknown key",
        'path = "imgs"\nfps = 5',
        'path = "imgs"\nfsp = 5',
        "cameras[1].source.fsp: unknown key for source kind 'folder'",
        "did you mean 'fps'?",
    ),
    (
        "unknown top key",
        'station = "s1"',
        'station = "s1"\nstaton = 2',
        "staton: unknown key",
        "did you mean 'station'",
    ),
    ("missing model", 'path = "model.onnx"', 'path = "nowhere/m.onnx"', "model.path: model file", "fix model.path"),
    ("missing station", 'station = "s1"\n', "", "station: missing", "add station = "),
    (
        "bad version",
        "schema_version = 1",
        "schema_version = 7",
        "schema_version: version 7 is not supported",
        "set schema_version = 1",
    ),
    (
        "unknown kind",
        'kind = "synthetic"',
        'kind = "webcam"',
        "cameras[0].source.kind: unknown kind 'webcam'",
        "use one of",
    ),
    ("missing setting", 'path = "imgs"\n', "", "cameras[1].source.path: missing", "add path = "),
    ("bool for int", "port = 9200", "port = true", "sinks.http.port: expected an integer, got True", "write port"),
    ("bad port", "port = 9200", "port = 70000", "sinks.http.port: 70000 is not a port", "1..65535"),
    (
        "bad trigger",
        'id = "cam0"',
        'id = "cam0"\ntrigger = "plc"',
        "cameras[0].trigger: 'plc' is not a trigger",
        "free, mqtt, opcua",
    ),
    (
        "bad roi",
        'id = "cam0"',
        'id = "cam0"\nroi = [0, 0, 0, 10]',
        "cameras[0].roi: expected [x, y, width, height]",
        "four whole pixel numbers",
    ),
    ("duplicate id", 'id = "cam1"', 'id = "cam0"', "cameras[1].id: duplicate camera id 'cam0'", "its own id"),
    ("unknown sink", "[sinks.http]", "[sinks.kafka]", "sinks.kafka: unknown key", "remove it"),
    (
        "mqtt qos",
        "[sinks.http]\nport = 9200",
        '[sinks.mqtt]\nhost = "b"\nqos = 3',
        "sinks.mqtt.qos: 3 is not a QoS",
        "use 0, 1 or 2",
    ),
    ("mqtt host", "[sinks.http]\nport = 9200", "[sinks.mqtt]\nport = 1883", "sinks.mqtt.host: missing", "add host"),
    (
        "opcua endpoint",
        "[sinks.http]\nport = 9200",
        '[sinks.opcua]\nendpoint = "tcp://x"',
        "sinks.opcua.endpoint: must start with opc.tcp://",
        "opc.tcp://0.0.0.0:4840",
    ),
    (
        "negative timeout",
        'id = "cam0"',
        'id = "cam0"\nread_timeout_s = -1',
        "cameras[0].read_timeout_s: must be positive",
        "positive number",
    ),
    (
        "table as value",
        'station = "s1"',
        "station = { name = 's1' }",
        "station: expected a string, got a table",
        "write station",
    ),
    (
        "missing trusted key",
        'path = "model.onnx"',
        'path = "model.onnx"\ntrusted_keys = ["keys/line3.pub"]',
        "model.trusted_keys[0]: key file",
        "copy the public key there",
    ),
    (
        "opcua user in clear",
        "[sinks.http]\nport = 9200",
        ('[sinks.opcua]\nendpoint = "opc.tcp://0.0.0.0:4840"\nusername = "plc"\npassword_env = "HOME"'),
        "sinks.opcua.certificate: missing: a username",
        "add certificate",
    ),
    (
        "mqtt tls file without tls",
        "[sinks.http]\nport = 9200",
        '[sinks.mqtt]\nhost = "b"\nca_file = "model.onnx"',
        "sinks.mqtt.ca_file: is set but tls is off",
        "add tls = true",
    ),
    (
        "unknown sink key",
        "port = 9200",
        "port = 9200\nhots = 'x'",
        "sinks.http.hots: unknown key for sink kind 'http'",
        "did you mean 'host'?",
    ),
    ("toml syntax", 'station = "s1"', "station = ", "not valid TOML", "fix the syntax"),
    ("no cameras", "", "", "", ""),  # replaced below
]
CASES[-1] = ("no cameras", None, None, "cameras: no camera configured", "add a [[cameras]] table")


@pytest.mark.parametrize(("what", "old", "new", "message", "fix"), CASES, ids=[c[0] for c in CASES])
def test_config_errors_name_the_field_and_the_fix(
    tmp_path: Path, what: str, old: str | None, new: str | None, message: str, fix: str
) -> None:
    if old is None:
        text = "cameras = []\n" + GOOD.split("[[cameras]]")[0]
    else:
        assert old in GOOD
        text = GOOD.replace(old, new, 1)
    with pytest.raises(InspectorError) as caught:
        load_config(write(tmp_path, text))
    assert message in caught.value.message, caught.value.message
    assert fix in caught.value.fix and "docs/station-config.md" in caught.value.fix
    assert str(tmp_path / "station.toml") in caught.value.message


def test_cli_prints_the_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace("fps = 5", "fps = 'fast'"))
    assert main(["daemon", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cameras[1].source.fps: expected a number, got 'fast'" in err and "fix:" in err
    assert "Traceback" not in err
    assert main(["daemon", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_cli_check_loads_the_real_bundle(tmp_path: Path, bundle_path: Path, capsys) -> None:
    shutil.copy(bundle_path, tmp_path / "model.onnx")
    shutil.copy(bundle_path.with_name(bundle_path.name + ".sha256"), tmp_path / "model.onnx.sha256")
    (tmp_path / "model.onnx.sha256").write_text(
        (tmp_path / "model.onnx.sha256").read_text().replace(bundle_path.name, "model.onnx")
    )
    path = tmp_path / "station.toml"
    path.write_text(GOOD)
    assert main(["daemon", "--config", str(path), "--check"]) == 0
    assert "OK (2 camera(s)" in capsys.readouterr().out
    (tmp_path / "model.onnx").write_bytes((tmp_path / "model.onnx").read_bytes() + b"tampered")
    assert main(["daemon", "--config", str(path), "--check"]) == 2
    assert "differs from its sidecar" in capsys.readouterr().err
