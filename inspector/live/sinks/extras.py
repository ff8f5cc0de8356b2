"""The optional packages of the plant-floor sinks (pip extras `mqtt`, `opcua`, and `plant` for both).

A core install (`pip install inspector`) has neither paho-mqtt nor asyncua. Their sink modules import
them only through `require`, so the modules (and their settings models) load without them, and a station
config naming such a sink is refused with the extra to install (exit 2), never a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from inspector.errors import InspectorError

EXTRAS = {"mqtt": ("paho.mqtt.client", "paho-mqtt"), "opcua": ("asyncua", "asyncua")}
"""sink kind -> (the module it imports, its PyPI package); the pip extra is named like the kind."""


def missing(kind: str, name: str | None = None) -> tuple[str, str]:
    """(problem, fix) when the `kind` sink's package (or `name`, a module it needs) is not installed."""
    if kind not in EXTRAS:
        return f"the {kind} sink needs the {name} package", f"pip install {name}"
    return (
        f"the {kind} sink needs `pip install inspector[{kind}]` ({EXTRAS[kind][1]} is not installed)",
        f"pip install 'inspector[{kind}]' ('inspector[plant]' installs MQTT and OPC UA), "
        f"or remove [sinks.{kind}] from the station config",
    )


def check_installed(kind: str) -> None:
    """Import the `kind` sink's package; ModuleNotFoundError (its `name` the missing module) when absent."""
    if kind in EXTRAS:
        importlib.import_module(EXTRAS[kind][0])


def require(kind: str) -> ModuleType:
    """The module the `kind` sink needs; InspectorError naming `pip install inspector[kind]` when it is missing."""
    try:
        return importlib.import_module(EXTRAS[kind][0])
    except ModuleNotFoundError as exc:
        raise InspectorError(*missing(kind, exc.name)) from exc
