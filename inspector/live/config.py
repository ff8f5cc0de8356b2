"""The station config: one TOML file, validated on load by the pydantic models below (docs/station-config.md).

This module holds the station-level file (StationFile, StationConfig, load_config); the per-table models
(`[model]`, `[[cameras]]`, `[verdict]`, ...) live in inspector.live.config_tables and are re-exported here.

The models are the only statement of the schema: the loader validates with them, the sinks and sources
are built from them, and the tables of docs/station-config.md are generated from them
(`python -m inspector.live.config_docs`). Each source and sink kind declares its own table next to its code
(`Source.Settings`, `Sink.Settings`). Every problem raises ConfigError naming the field
(`cameras[1].source.fps`) and the fix; the CLI prints it and exits 2. Relative paths are resolved against
the config file's folder (model, keys, certificates, password files) or `storage.data_dir` (sink files).
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError, ValidationInfo, create_model, field_validator, model_validator

from inspector.errors import InspectorError
from inspector.live.config_tables import (
    ID_FIX,
    ID_PATTERN,
    LEVELS,
    TRIGGERS,
    CameraConfig,
    KeyFile,
    LogSettings,
    ModelSettings,
    PathText,
    PipelineSettings,
    ShadowSettings,
    StorageSettings,
    VerdictSettings,
    context_of,
)
from inspector.live.golden_schedule import GoldenSettings
from inspector.live.recipes import RecipeSettings, check_recipe_sources
from inspector.live.settings import ConfigModel, explained, fail, setting
from inspector.live.sinks import sink_class, sink_kinds
from inspector.live.sinks.base import SinkSettings
from inspector.live.sinks.extras import missing

__all__ = [
    "DOCS",
    "LEVELS",
    "SCHEMA_VERSION",
    "TRIGGERS",
    "CameraConfig",
    "ConfigError",
    "KeyFile",
    "LogSettings",
    "ModelSettings",
    "PathText",
    "PipelineSettings",
    "ShadowSettings",
    "StationConfig",
    "StationFile",
    "StorageSettings",
    "VerdictSettings",
    "check_camera",
    "config_error",
    "load_config",
    "parse_config",
    "sinks_model",
]

SCHEMA_VERSION = 1
DOCS = "docs/station-config.md"


class ConfigError(InspectorError):
    """The station config is unusable; the message names the field."""


@lru_cache(maxsize=8)
def sinks_model(kinds: tuple[str, ...], configured: tuple[type[SinkSettings], ...]) -> type[ConfigModel]:
    """The `[sinks]` table: every known kind a key, each configured one checked by its kind's model."""
    settings = dict(zip(kinds, configured, strict=True))
    fields: dict[str, Any] = {kind: (settings.get(kind, SinkSettings) | None, None) for kind in sink_kinds()}
    return create_model("SinksSettings", __base__=ConfigModel, **fields)


class StationFile(ConfigModel):
    """The station TOML file: the tables below, nothing else."""

    schema_version: int = setting(help=f"version of this schema; must be `{SCHEMA_VERSION}`")
    station: str = setting(
        help="station name (letters, digits, `-`, `_`, `.`; at most 64): in every record, MQTT topic and OPC UA node",
        pattern=ID_PATTERN,
        problem="{input!r} is not a valid name",
        fix=ID_FIX,
    )
    model: ModelSettings = setting(help="the model bundle, below")
    cameras: list[CameraConfig] = setting(
        help="one `[[cameras]]` table per camera, at least one",
        min_length=1,
        problem="no camera configured",
        fix="add a [[cameras]] table",
    )
    pipeline: PipelineSettings = setting({}, shown="`{}`", help="queues and batching")
    storage: StorageSettings = setting({}, shown="`{}`", help="where files live")
    sinks: dict[str, SinkSettings] = setting(
        {}, shown="`{}`", help="where verdicts go: " + ", ".join(f"`[sinks.{k}]`" for k in sink_kinds())
    )
    log: LogSettings = setting({}, shown="`{}`", help="daemon log lines")
    verdict: VerdictSettings = setting({}, shown="`{}`", help="when a frame is UNSURE: the gates, tightened")
    recipe: str = setting(
        "",
        help="the recipe the station starts with (a `[recipes.<name>]`); empty: `[model]` "
        "and the cameras' `roi` (docs/plc.md#recipes)",
    )
    recipes: dict[str, RecipeSettings] = setting(
        {},
        shown="`{}`",
        help="one `[recipes.<name>]` table per product, "
        "below; the PLC, `inspector recipe select` or the GUI switch them",
    )
    shadow: ShadowSettings | None = setting(
        None, shown="none", help="a candidate bundle run beside production (shadow mode), below"
    )
    golden: GoldenSettings = setting(
        {}, shown="`{}`", help="scheduled golden self-tests: every N seconds and at shift starts, below"
    )

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise fail(
                (),
                f"version {value} is not supported by this Inspector (supports {SCHEMA_VERSION})",
                f"set schema_version = {SCHEMA_VERSION} and update the file to this version's schema",
                value,
            )
        return value

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, value: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for i, camera in enumerate(value):
            if camera.id in seen:
                raise fail((i, "id"), f"duplicate camera id {camera.id!r}", "give each camera its own id", camera.id)
            seen.add(camera.id)
        return value

    @model_validator(mode="after")
    def _recipes_fit(self) -> StationFile:
        cameras = {camera.id for camera in self.cameras}
        for name, recipe in self.recipes.items():
            if not re.match(ID_PATTERN, name):
                raise fail(("recipes", name), f"{name!r} is not a valid recipe name", ID_FIX)
            for cam in recipe.cameras:
                if cam not in cameras:
                    raise fail(
                        ("recipes", name, "cameras", cam),
                        f"no camera {cam!r} in this station",
                        f"use one of {sorted(cameras)}",
                    )
            bad = check_recipe_sources(self, name)
            if bad:
                raise fail(("recipes", name, "cameras"), bad, "fix the recipe's `source` settings for that camera")
        if self.recipe and self.recipe not in self.recipes:
            raise fail(
                ("recipe",),
                f"no recipe {self.recipe!r}",
                f"add [recipes.{self.recipe}] or use one of {sorted(self.recipes) or 'the recipes you add'}",
            )
        return self

    @field_validator("sinks", mode="before")
    @classmethod
    def _sinks_by_kind(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict) or all(isinstance(v, SinkSettings) for v in value.values()):
            return value
        kinds, models = [], []
        for kind in value:
            if kind not in sink_kinds():
                continue  # the table's model says "unknown key"
            try:
                models.append(sink_class(kind).Settings)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("inspector"):
                    raise fail(
                        (kind,), f"this Inspector has no {kind} sink", f"remove [sinks.{kind}] or update Inspector"
                    ) from None
                raise fail((kind,), *missing(kind, exc.name)) from None
            kinds.append(kind)
        storage = info.data.get("storage")
        context = {**context_of(info), "data_dir": storage.data_dir} if storage is not None else info.context
        table = sinks_model(tuple(kinds), tuple(models)).model_validate(value, context=context)
        return {kind: getattr(table, kind) for kind in value}


class StationConfig(StationFile):
    """A loaded station: the file's tables plus where it came from, with the flat names the code reads
    (`config.model_path`, `config.queue_size`, ...). Programmatic callers may also pass those flat names."""

    path: PathText = setting(Path("<memory>"), help="the config file", docs=False)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        nested = {
            "model": {"model_path": "path", "threshold": "threshold", "provider": "provider", "threads": "threads"},
            "pipeline": {"queue_size": "queue_size", "max_batch": "max_batch"},
            "storage": {"data_dir": "data_dir"},
            "log": {"log_level": "level", "log_format": "format"},
        }
        for table, names in nested.items():
            moved = {key: data.pop(flat) for flat, key in names.items() if flat in data}
            if moved:
                data[table] = {**dict(data.get(table) or {}), **moved}
        data.setdefault("schema_version", SCHEMA_VERSION)
        return data

    @property
    def model_path(self) -> Path:
        return self.model.path

    @property
    def threshold(self) -> float | None:
        return self.model.threshold

    @property
    def provider(self) -> str:
        return self.model.provider

    @property
    def threads(self) -> int:
        return self.model.threads

    @property
    def queue_size(self) -> int:
        return self.pipeline.queue_size

    @property
    def max_batch(self) -> int:
        return self.pipeline.max_batch

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @property
    def log_level(self) -> str:
        return self.log.level

    @property
    def log_format(self) -> str:
        return self.log.format


def config_error(exc: ValidationError, name: str | Path) -> ConfigError:
    """The station config's message for a ValidationError: the first problem (field, problem, fix), then the rest."""
    errors = explained(exc)
    loc, problem, fix = errors[0]
    more = "".join(f"\n  also: {where}: {what} ({how})" for where, what, how in errors[1:])
    return ConfigError(f"{name}: {loc}: {problem}{more}" if loc else f"{name}: {problem}{more}", f"{fix} (see {DOCS})")


def load_config(path: str | Path, *, check_model: bool = True) -> StationConfig:
    """Read and validate a station TOML; raises ConfigError (an InspectorError) naming the field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found", "check the --config path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})", "check the file and its permissions") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", f"fix the syntax at that line (see {DOCS})") from exc
    return parse_config(raw, path, check_model=check_model)


def parse_config(raw: dict[str, Any], path: Path, *, check_model: bool = True) -> StationConfig:
    """Validate a parsed station TOML (`path` names it and anchors its relative paths)."""
    context = {"config_dir": path.parent.resolve(), "check_files": True, "check_model": check_model}
    try:
        station = StationFile.model_validate(raw, context=context)
    except ValidationError as exc:
        raise config_error(exc, path) from None
    return StationConfig.model_construct(
        path=path, **{name: getattr(station, name) for name in StationFile.model_fields}
    )


def check_camera(raw: dict[str, Any], name: str) -> CameraConfig:
    """One [[cameras]] table checked with the station config's rules (the GUI's camera settings use it)."""
    try:
        return CameraConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, name) from None
