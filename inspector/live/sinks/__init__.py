"""Result sinks: a registry of kinds, each with its own bounded queue and settings model (see base.py).

Each kind's module is imported only when a station config names it; MQTT needs paho-mqtt and OPC UA asyncua,
the `mqtt` and `opcua` extras (extras.py).
"""

from __future__ import annotations

import importlib

from inspector.live.sinks.base import SINKS, Sink
from inspector.live.sinks.extras import check_installed

SINK_MODULES = {
    "sqlite": "inspector.live.sinks.sqlite",
    "mqtt": "inspector.live.sinks.mqtt",
    "opcua": "inspector.live.sinks.opcua",
    "http": "inspector.live.http",
    "plc": "inspector.live.sinks.plc",
}


def sink_kinds() -> list[str]:
    """Every kind a station config may name: the built-in ones and any registered since."""
    return sorted(set(SINK_MODULES) | set(SINKS))


def sink_class(kind: str) -> type[Sink]:
    """The sink class of `kind`, importing its module; KeyError for an unknown kind, ModuleNotFoundError
    (whose `name` is the missing module) when its dependency is not installed (extras.missing words it)."""
    if kind not in SINKS:
        if kind not in SINK_MODULES:
            raise KeyError(kind)
        importlib.import_module(SINK_MODULES[kind])
    check_installed(kind)  # the modules import paho-mqtt / asyncua lazily: is it there?
    return SINKS[kind]
