"""The station config: one TOML file, validated on load by the pydantic models below (docs/station-config.md).

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
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from inspector.errors import InspectorError
from inspector.live.golden_schedule import GoldenSettings
from inspector.live.recipes import RecipeSettings, check_recipe_sources
from inspector.live.settings import ConfigModel, explained, fail, setting
from inspector.live.sinks import sink_class, sink_kinds
from inspector.live.sinks.base import SinkSettings
from inspector.live.sinks.extras import missing
from inspector.live.sources import SOURCES
from inspector.verdict import Tightening

SCHEMA_VERSION = 1
TRIGGERS = ("free", "mqtt", "opcua", "hardware")
LEVELS = ("debug", "info", "warning", "error")
DOCS = "docs/station-config.md"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID_FIX = "use letters, digits, '-', '_' or '.' (at most 64)"


class ConfigError(InspectorError):
    """The station config is unusable; the message names the field."""


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def _as_path(value: Any) -> Any:
    return Path(value) if isinstance(value, str) else value


def _key_file(value: Path, info: ValidationInfo) -> Path:
    path = (Path(_context(info).get("config_dir", ".")) / value).resolve()
    if _context(info).get("check_files") and not path.is_file():
        raise fail(
            (),
            f"key file {path} not found",
            "copy the public key there or fix the path (relative to the "
            "config file); `inspector keys list` shows the keys",
        )
    return path


PathText = Annotated[Path, BeforeValidator(_as_path)]  # written as a string, held as a Path
KeyFile = Annotated[Path, BeforeValidator(_as_path), AfterValidator(_key_file)]


class ModelSettings(ConfigModel):
    """`[model]`: the bundle and how it runs."""

    path: PathText = setting(
        help="the bundle `.onnx`; its `.sha256` sidecar must sit beside it "
        "(docs/model-bundle.md); relative to the config file. Must exist"
    )
    threshold: float | None = setting(
        None,
        shown="the bundle's",
        ge=0,
        help="overrides the bundle's threshold: a score above it is NG",
        problem="{input} is negative: every part would be NG",
        fix="remove it to use the bundle's threshold, or write the score above which a part is NG",
    )
    provider: str = setting(
        "", help="onnxruntime provider (`CPU`, `CUDA`, `TensorRT`, `OpenVINO`); empty = best installed"
    )
    threads: int = setting(
        0,
        ge=0,
        help="inference threads; `0` = onnxruntime's default",
        problem="must be 0 or more, got {input}",
        fix="set threads = 0 for the default",
    )
    trusted_keys: list[KeyFile] = setting(
        [],
        shown="`[]`",
        help="public keys (ed25519, relative to the config "
        "file) that may sign the bundle; when any is listed, an unsigned bundle "
        "or one signed by another key is refused. Empty = signatures not required",
    )
    typer: PathText | None = setting(
        None,
        shown="none",
        help="a typer bundle `.onnx` (classify, trained on defect "
        "types only: docs/classification.md#typer) that names the defect type of each "
        "NG part; verified like `path` (sidecar, trusted keys); relative to the config "
        "file. None = no defect type",
    )

    @field_validator("path", "typer")
    @classmethod
    def _bundle_there(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = (Path(_context(info).get("config_dir", ".")) / value).resolve()
        if _context(info).get("check_model") and not path.is_file():
            raise fail(
                (),
                f"model file {path} not found",
                f"copy the bundle there or fix model.{info.field_name} (relative to the config file)",
            )
        return path


class PipelineSettings(ConfigModel):
    """`[pipeline]`: queues and batching."""

    queue_size: int = setting(
        1,
        ge=1,
        help="frames waiting per camera; when full the **oldest** is dropped (and "
        "counted), so an inspected frame is never older than about one frame "
        "interval plus one inference",
    )
    max_batch: int = setting(4, ge=1, help="frames inspected together, taken round-robin across cameras")


class CameraConfig(ConfigModel):
    """`[[cameras]]`: one camera; `source` is the `[cameras.source]` table less `kind`, checked by its kind."""

    id: str = setting(
        help="camera name, unique in the station", pattern=_ID, problem="{input!r} is not a valid id", fix=_ID_FIX
    )
    kind: str = setting("", help="the source kind (written as `source.kind`)", docs=False)
    source: dict[str, Any] = setting(help="`kind` plus that kind's settings, below")
    roi: tuple[int, int, int, int] | None = setting(
        None,
        shown="whole frame",
        help="pixels inspected (clipped to the frame); the saved image is the whole frame",
        problem="expected [x, y, width, height], got {input}",
        fix="write four whole pixel numbers, width and height above 0, e.g. roi = [0, 0, 640, 480]",
    )
    max_fps: float = setting(30.0, gt=0, help="inspect at most this many frames per second (free-run)")
    trigger: Literal["free", "mqtt", "opcua", "hardware"] = setting(
        "free",
        help="`free`: free-run up to `max_fps`; `mqtt` / `opcua`: inspect the next frame grabbed after each "
        "external trigger (an MQTT message or an OPC UA write); `hardware`: the camera is triggered by the line "
        "(a frame per part), each frame takes the next part id the PLC announced (docs/plc.md)",
        problem="{input!r} is not a trigger mode",
        fix=f"use one of {', '.join(TRIGGERS)}",
    )
    open_timeout_s: float = setting(10.0, gt=0, help="an open that takes longer marks the camera DOWN")
    read_timeout_s: float = setting(
        2.0, gt=0, help="a read that takes longer, or only blank/repeated frames for longer, marks the camera DOWN"
    )
    backoff_initial_s: float = setting(0.5, gt=0, help="first reconnect delay after DOWN")
    backoff_max_s: float = setting(
        30.0,
        gt=0,
        help="cap of the reconnect delay (at least `backoff_initial_s`), which doubles after every failed attempt",
    )
    reject_repeats: bool = setting(
        True,
        help="never inspect a frame bit-identical to the previous one (a stalled "
        "capture), also across reconnects; `false` only for a folder of one "
        "image",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_from_source(cls, data: Any) -> Any:
        """In TOML the kind is `source.kind`; held beside the settings (`cfg.kind`, `cfg.source`)."""
        if isinstance(data, dict) and isinstance(data.get("source"), dict) and "kind" in data["source"]:
            source = dict(data["source"])
            data = {**data, "kind": source.pop("kind"), "source": source}
        if isinstance(data, dict) and isinstance(data.get("roi"), list):
            data = {**data, "roi": tuple(data["roi"])}
        return data

    @field_validator("source")
    @classmethod
    def _settings_of_kind(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if not kind:
            raise fail(("kind",), "missing", f"add kind = one of {sorted(SOURCES)}")
        if kind not in SOURCES:
            raise fail(("kind",), f"unknown kind {kind!r}", f"use one of {sorted(SOURCES)}", kind)
        return dict(SOURCES[kind].Settings.model_validate(value, context=info.context))

    @field_validator("roi")
    @classmethod
    def _roi_inside(cls, value: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if value is not None and (min(value) < 0 or value[2] == 0 or value[3] == 0):
            raise fail(
                (),
                f"expected [x, y, width, height], got {list(value)}",
                "write four whole pixel numbers, width and height above 0, e.g. roi = [0, 0, 640, 480]",
            )
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> CameraConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise fail(
                ("backoff_max_s",), "is below backoff_initial_s", "make backoff_max_s at least backoff_initial_s"
            )
        return self

    def table(self, **changes: Any) -> dict[str, Any]:
        """This camera as its `[[cameras]]` table, with `changes` applied (`source` merged; None: the default)."""
        raw = {**self.model_dump(exclude={"kind", "source"}), **changes}
        source = {**self.source, **changes.get("source", {})}
        raw["source"] = {"kind": self.kind, **{k: v for k, v in source.items() if v is not None}}
        return {key: list(value) if key == "roi" else value for key, value in raw.items() if value is not None}


class VerdictSettings(ConfigModel):
    """`[verdict]`: when a frame is UNSURE (docs/verdicts.md). The bounds tighten the bundle's calibrated gates;
    a looser one has no effect (logged at start). Empty: the bundle's gates as they are."""

    unsure_band: float = setting(
        0.0,
        ge=0,
        le=0.5,
        help="UNSURE (`near_threshold`) when the score lies within this "
        "fraction of the threshold on either side (`0.1`: 0.9-1.1 x threshold); `0` = off",
        problem="{input} is not between 0 and 0.5",
        fix="write a fraction such as 0.1, or 0 for no band",
    )
    min_brightness: float | None = setting(
        None, shown="the bundle's", ge=0, le=255, help="UNSURE (`dark`) below this mean gray level (0-255)"
    )
    max_brightness: float | None = setting(
        None, shown="the bundle's", ge=0, le=255, help="UNSURE (`bright`) above this mean gray level (0-255)"
    )
    max_clipped: float | None = setting(
        None,
        shown="the bundle's",
        ge=0,
        le=1,
        help="UNSURE (`exposure`) when more than this fraction of pixels is black or white (gray <= 2 or >= 253)",
    )
    min_focus: float | None = setting(
        None,
        shown="the bundle's",
        ge=0,
        help="UNSURE (`focus`) below this sharpness (variance of the Laplacian over "
        "the variance of the image, on the model's input)",
    )
    max_ood: float | None = setting(
        None,
        shown="the bundle's",
        ge=0,
        help="UNSURE (`out_of_distribution`) when the anomaly map's median is above this (anomaly bundles)",
    )

    def tightening(self) -> Tightening:
        """What the engine applies to the bundle's gates (inspector.verdict)."""
        return Tightening(**self.model_dump())


class ShadowSettings(ConfigModel):
    """`[shadow]`: a candidate bundle judging the same frames beside production, at lower priority, never
    delaying a verdict (docs/verdicts.md#shadow-mode). Its disagreements go to `<data_dir>/shadow/`."""

    model: PathText = setting(
        help="the candidate bundle `.onnx` (with its `.sha256`; signed when `[model] "
        "trusted_keys` lists keys), relative to the config file. Must exist"
    )
    threshold: float | None = setting(None, shown="the bundle's", ge=0, help="overrides the candidate's threshold")
    nice: int = setting(
        10,
        ge=0,
        le=19,
        help="how much lower the shadow thread's OS priority is (0-19; `0` = the same as production)",
        problem="{input} is not in 0..19",
        fix="write a number from 0 to 19",
    )

    @field_validator("model")
    @classmethod
    def _bundle_there(cls, value: Path, info: ValidationInfo) -> Path:
        path = (Path(_context(info).get("config_dir", ".")) / value).resolve()
        if _context(info).get("check_model") and not path.is_file():
            raise fail(
                (),
                f"candidate model file {path} not found",
                "copy the bundle there, fix shadow.model (relative to the config file) or remove [shadow]",
            )
        return path


class StorageSettings(ConfigModel):
    """`[storage]`: where files live."""

    data_dir: PathText = setting(
        Path(""), shown="the config file's folder", help="base of relative sink paths (database, images)"
    )

    @field_validator("data_dir")
    @classmethod
    def _folder(cls, value: Path, info: ValidationInfo) -> Path:
        path = (Path(_context(info).get("config_dir", ".")) / value).resolve()
        if path.exists() and not path.is_dir():
            raise fail((), f"{path} is a file, not a folder", "point data_dir at a folder (or remove the file)")
        return path


class LogSettings(ConfigModel):
    """`[log]`: the daemon's log lines."""

    level: Literal["debug", "info", "warning", "error"] = setting(
        "info",
        help="`debug`, `info`, `warning` or `error` (`debug` logs every committed row)",
        problem="{input!r} is not a level",
        fix="use debug, info, warning or error",
    )
    format: Literal["kv", "json"] = setting(
        "kv",
        help='`kv` (`ts=… level=info msg="camera state" camera=top state=DOWN`) or `json`',
        problem="{input!r} is unknown",
        fix="use kv or json",
    )


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
        pattern=_ID,
        problem="{input!r} is not a valid name",
        fix=_ID_FIX,
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
            if not re.match(_ID, name):
                raise fail(("recipes", name), f"{name!r} is not a valid recipe name", _ID_FIX)
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
        context = {**_context(info), "data_dir": storage.data_dir} if storage is not None else info.context
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
