"""What `inspector daemon --check` and the daemon's start verify beyond the config's own schema.

The same checks run in both, so a config that passes `--check` cannot start into a dead sink: the
model loads with the configured provider, the health port's host can be bound, database and image
paths are usable, and a threshold override far from the bundle's calibration is warned about.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import onnxruntime as ort

from inspector.bundle.session import PROVIDER_PREFERENCE, Bundle
from inspector.live.config import ConfigError, StationConfig
from inspector.threshold import override_warning

DOCS = "docs/station-config.md"


def check_provider(config: StationConfig) -> None:
    """An unavailable provider is a config problem (not the model's): name the field and what is installed."""
    if not config.provider:
        return
    wanted = config.provider if config.provider.endswith("ExecutionProvider") else f"{config.provider}ExecutionProvider"
    available = ort.get_available_providers()
    if wanted.lower() not in {p.lower() for p in available}:
        shown = ", ".join(p.removesuffix("ExecutionProvider") for p in available)
        known = ", ".join(p.removesuffix("ExecutionProvider") for p in PROVIDER_PREFERENCE)
        raise ConfigError(
            f"{config.path}: model.provider: {config.provider!r} is not installed here "
            f"(installed: {shown}; known: {known})",
            f'write provider = "" for the best installed one, or install its onnxruntime build (see {DOCS})',
        )


def check_http(config: StationConfig) -> None:
    """The health port's host must be an address of this machine (the port itself may be taken by a
    running daemon while --check runs, so only the address is tried)."""
    from inspector.live.http import HttpSettings  # the sink's own settings model (registered under "http")

    http = config.sinks.get("http")
    if not isinstance(http, HttpSettings):  # no [sinks.http]
        return
    try:
        infos = socket.getaddrinfo(http.host, 0, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.bind((http.host, 0))
    except OSError as exc:
        raise ConfigError(
            f"{config.path}: sinks.http.host: {http.host!r} cannot be bound on this machine ({exc.strerror or exc})",
            f'use an address of this machine, e.g. host = "127.0.0.1" (see {DOCS})',
        ) from exc


def check_storage(config: StationConfig) -> list[str]:
    """Warnings for database/image folders that exist but cannot be written (rows still go in where they can)."""
    warnings = []
    sqlite = config.sinks.get("sqlite")
    if sqlite is not None:
        for key in ("path", "image_dir"):
            path = Path(getattr(sqlite, key))
            folder = path.parent if key == "path" else path
            existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
            if existing is not None and not _writable(existing):
                warnings.append(
                    f"sinks.sqlite.{key}: {existing} is not writable by this user: "
                    f"{'rows' if key == 'path' else 'images'} cannot be stored there"
                )
    return warnings


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def threshold_warnings(config: StationConfig, bundle: Bundle) -> list[str]:
    meta = bundle.metadata
    text = override_warning(config.threshold, meta.threshold, meta.threshold_method)
    return [f"model.threshold: {text}"] if text else []


def preflight(config: StationConfig, bundle: Bundle) -> list[str]:
    """Raise ConfigError for what would start a dead station; return warnings for what is merely risky."""
    check_http(config)
    return [*check_storage(config), *threshold_warnings(config, bundle)]
