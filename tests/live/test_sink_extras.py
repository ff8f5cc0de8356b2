"""MQTT and OPC UA are pip extras: without paho-mqtt / asyncua a station naming such a sink is refused with
the extra to install (exit 2, no traceback), and everything else still runs.

The missing package is real: a child interpreter whose import system refuses the package (as on a core
install), running the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo.onnx"

# Run `inspector ARGS...` in a Python where importing BLOCKED (and its submodules) fails as if not installed.
CHILD = """
import sys
from importlib.abc import MetaPathFinder

class Uninstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
from inspector.cli import main
sys.exit(main(sys.argv[2:]))
"""

SINKS = {
    "mqtt": ("paho", '[sinks.mqtt]\nhost = "127.0.0.1"\nport = 1\n'),
    "opcua": ("asyncua", '[sinks.opcua]\nendpoint = "opc.tcp://127.0.0.1:1/inspector/"\n'),
}


def station(folder: Path, sinks: str) -> Path:
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "extras"
[model]
path = "{DEMO}"
[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 5
size = 64
{sinks}''')
    return path


def without(package: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, package, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_config_check_names_the_extra_when_the_sink_package_is_missing(kind: str, tmp_path: Path) -> None:
    package, table = SINKS[kind]
    proc = without(package, "daemon", "--config", station(tmp_path, table), "--check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the {kind} sink needs `pip install inspector[{kind}]`" in proc.stderr, proc.stderr
    assert f"sinks.{kind}" in proc.stderr and "Traceback" not in proc.stderr


def test_a_station_without_those_sinks_needs_neither_package(tmp_path: Path) -> None:
    config = station(tmp_path, '[sinks.sqlite]\npath = "log.db"\n')
    for package, _ in SINKS.values():
        proc = without(package, "daemon", "--config", config, "--check")
        assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_the_sink_modules_load_without_their_package_and_refuse_to_build() -> None:
    """Their settings models (docs, config check) load on a core install; making a sink names the extra."""
    code = """
import sys
from importlib.abc import MetaPathFinder
class Uninstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("paho", "asyncua"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
from inspector.errors import InspectorError
sys.meta_path.insert(0, Uninstalled())
from inspector.live.sinks.mqtt import MqttSink
from inspector.live.sinks.opcua import OpcUaSink
for make in (lambda: MqttSink(station="s"), lambda: OpcUaSink(station="s")):
    try:
        make()
    except InspectorError as exc:
        print(exc.message)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "the mqtt sink needs `pip install inspector[mqtt]` (paho-mqtt is not installed)",
        "the opcua sink needs `pip install inspector[opcua]` (asyncua is not installed)",
    ]
