"""The station config's per-table models: `[model]`, `[pipeline]`, `[[cameras]]`, `[verdict]`, `[shadow]`,
`[storage]` and `[log]` (docs/station-config.md), with the path and id helpers they share.

inspector.live.config holds the station-level file (StationFile, StationConfig, load_config) and re-exports
these, so `from inspector.live.config import CameraConfig` keeps working. Relative paths are resolved against
the config file's folder (passed as `config_dir` in the validation context).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, field_validator, model_validator

from inspector.live.settings import ConfigModel, fail, setting
from inspector.live.sources import SOURCES
from inspector.verdict import Tightening

TRIGGERS = ("free", "mqtt", "opcua", "hardware")
LEVELS = ("debug", "info", "warning", "error")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_FIX = "use letters, digits, '-', '_' or '.' (at most 64)"


def context_of(info: ValidationInfo) -> dict[str, Any]:
    """The validation context (config_dir, check_files, check_model, data_dir), or {} when none."""
    return info.context if isinstance(info.context, dict) else {}


def _as_path(value: Any) -> Any:
    return Path(value) if isinstance(value, str) else value


def _key_file(value: Path, info: ValidationInfo) -> Path:
    path = (Path(context_of(info).get("config_dir", ".")) / value).resolve()
    if context_of(info).get("check_files") and not path.is_file():
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
    spin: bool = setting(
        False,
        help="onnxruntime's idle inference threads busy-wait for the next run: a little less latency on "
        "an otherwise idle box, half the throughput when cameras, sinks, the GUI or other processes share "
        "the cores (docs/benchmarks.md#spinning). Off by default",
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
        path = (Path(context_of(info).get("config_dir", ".")) / value).resolve()
        if context_of(info).get("check_model") and not path.is_file():
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
        help="camera name, unique in the station", pattern=ID_PATTERN, problem="{input!r} is not a valid id", fix=ID_FIX
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
        path = (Path(context_of(info).get("config_dir", ".")) / value).resolve()
        if context_of(info).get("check_model") and not path.is_file():
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
        path = (Path(context_of(info).get("config_dir", ".")) / value).resolve()
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
