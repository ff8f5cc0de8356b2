"""The station config: one TOML file, validated on load against a closed schema (docs/station-config.md).

Every problem raises InspectorError naming the field (`cameras[1].source.fps`) and the fix; the CLI
prints it and exits 2. Relative paths are resolved against the config file's folder (model) or
`storage.data_dir` (sink files).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError
from inspector.live.sources import SOURCES, Field
from inspector.synthetic import STYLES

SCHEMA_VERSION = 1
TRIGGERS = ("free", "mqtt", "opcua")
DOCS = "docs/station-config.md"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_FRAME_SIDE = 16384  # pixels: no camera delivers more (a 16K frame is already 800 MB of RGB)

TOP = {
    "schema_version": Field((int,), required=True, help="version of this schema; must be 1"),
    "station": Field((str,), required=True, help="station name, in every record and topic"),
    "model": Field((dict,), required=True, help="the model bundle"),
    "cameras": Field((list,), required=True, help="one [[cameras]] table per camera"),
    "pipeline": Field((dict,), {}, help="queues and batching"),
    "sinks": Field((dict,), {}, help="where verdicts go"),
    "storage": Field((dict,), {}, help="where files live"),
    "log": Field((dict,), {}, help="daemon log lines"),
}
MODEL = {
    "path": Field((str,), required=True, help="bundle .onnx (its .sha256 sidecar beside it)"),
    "threshold": Field((int, float), None, help="override the bundle's threshold"),
    "provider": Field((str,), "", help="onnxruntime provider, e.g. CPU or CUDA (empty: best available)"),
    "threads": Field((int,), 0, help="inference threads (0: onnxruntime's default)"),
}
PIPELINE = {
    "queue_size": Field((int,), 1, help="frames queued per camera; the oldest is dropped when full"),
    "max_batch": Field((int,), 4, help="frames inspected together across cameras"),
}
CAMERA = {
    "id": Field((str,), required=True, help="camera name, unique in the station"),
    "source": Field((dict,), required=True, help="the source table: kind plus that kind's settings"),
    "roi": Field((list,), None, help="[x, y, width, height] in pixels inspected (default: the whole frame)"),
    "max_fps": Field((int, float), 30.0, help="inspect at most this many frames per second"),
    "trigger": Field((str,), "free", help="free | mqtt | opcua"),
    "open_timeout_s": Field((int, float), 10.0, help="an open that takes longer marks the camera DOWN"),
    "read_timeout_s": Field((int, float), 2.0, help="a read that takes longer marks the camera DOWN"),
    "backoff_initial_s": Field((int, float), 0.5, help="first reconnect delay"),
    "backoff_max_s": Field((int, float), 30.0, help="reconnect delay cap (doubling from the first)"),
    "reject_repeats": Field((bool,), True, help="never inspect a frame identical to the previous one"),
}
SINKS = {
    "sqlite": {
        "path": Field((str,), "inspections.db", help="the inspection log database"),
        "image_dir": Field((str,), "images", help="folder for saved images"),
        "save_ok_every": Field((int,), 100, help="save 1 in N OK images (0: none); NG images always"),
        "disk_budget_mb": Field((int, float), 1024.0, help="images folder budget; oldest OK images go first"),
    },
    "mqtt": {
        "host": Field((str,), required=True, help="broker host"),
        "port": Field((int,), 1883, help="broker port"),
        "topic_prefix": Field((str,), "inspector", help="topics are <prefix>/<station>/..."),
        "qos": Field((int,), 1, help="0, 1 or 2"),
        "client_id": Field((str,), "", help="MQTT client id (empty: inspector-<station>)"),
        "username": Field((str,), "", help="broker user (empty: anonymous)"),
        "password_file": Field((str,), "", help="file holding the broker password (e.g. a systemd credential)"),
        "tls": Field((bool,), False, help="connect with TLS (port 8883 by convention)"),
        "ca_file": Field((str,), "", help="CA bundle that signed the broker's certificate (empty: system CAs)"),
    },
    "opcua": {"endpoint": Field((str,), required=True, help="server endpoint, e.g. opc.tcp://0.0.0.0:4840")},
    "http": {
        "host": Field((str,), "127.0.0.1", help="bind address of /metrics, /healthz, /readyz"),
        "port": Field((int,), 9108, help="the health port"),
    },
}
STORAGE = {"data_dir": Field((str,), "", help="base of relative sink paths (empty: the config's folder)")}
LOG = {
    "level": Field((str,), "info", help="debug | info | warning | error"),
    "format": Field((str,), "kv", help="kv (key=value) or json"),
}


@dataclass(frozen=True)
class CameraConfig:
    id: str
    kind: str
    source: dict[str, Any]
    roi: tuple[int, int, int, int] | None = None
    max_fps: float = 30.0
    trigger: str = "free"
    open_timeout_s: float = 10.0
    read_timeout_s: float = 2.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    reject_repeats: bool = True


@dataclass(frozen=True)
class StationConfig:
    path: Path
    station: str
    model_path: Path
    threshold: float | None
    provider: str
    threads: int
    cameras: list[CameraConfig]
    queue_size: int = 1
    max_batch: int = 4
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_dir: Path = Path(".")
    log_level: str = "info"
    log_format: str = "kv"


class ConfigError(InspectorError):
    """The station config is unusable; the message names the field."""


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {problem}", f"{fix} (see {DOCS})")

    def table(self, data: Any, spec: dict[str, Field], where: str, what: str = "") -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected a table, got {_shown(data)}", f"write it as [{where}]")
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{where}.{key}" if where else key
            if key not in spec:
                close = difflib.get_close_matches(key, list(spec), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(name, f"unknown key{what} (known: {', '.join(sorted(spec))})",
                                f"{hint}remove it or fix its spelling")
            out[key] = self.value(value, spec[key], name)
        for key, spec_field in spec.items():
            if key not in out:
                if spec_field.required:
                    name = f"{where}.{key}" if where else key
                    raise self.fail(name, "missing", f"add {key} = ... ({spec_field.help})")
                out[key] = spec_field.default
        return out

    def value(self, value: Any, spec: Field, name: str) -> Any:
        wrong_bool = isinstance(value, bool) and bool not in spec.types
        if wrong_bool or not isinstance(value, spec.types):
            example = {int: "30", float: "0.5", str: '"text"', bool: "true", list: "[...]", dict: "{...}"}
            raise self.fail(name, f"expected {spec.type_name}, got {_shown(value)}",
                            f"write {name.rsplit('.', 1)[-1]} = {example.get(spec.types[-1], '...')} ({spec.help})")
        if float in spec.types and not math.isfinite(float(value)):
            raise self.fail(name, f"{value} is not a finite number",
                            f"write a finite number ({spec.help})")
        return float(value) if float in spec.types and not isinstance(value, str) else value

    def check(self, ok: bool, where: str, problem: str, fix: str) -> None:
        if not ok:
            raise self.fail(where, problem, fix)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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
    c = _Checker(path)
    top = c.table(raw, TOP, "")
    c.check(top["schema_version"] == SCHEMA_VERSION, "schema_version",
            f"version {top['schema_version']} is not supported by this Inspector (supports {SCHEMA_VERSION})",
            f"set schema_version = {SCHEMA_VERSION} and update the file to this version's schema")
    c.check(bool(_ID.match(top["station"])), "station", f"{top['station']!r} is not a valid name",
            "use letters, digits, '-', '_' or '.' (at most 64)")
    base = path.parent.resolve()
    model = c.table(top["model"], MODEL, "model")
    model_path = (base / model["path"]).resolve()
    if check_model:
        c.check(model_path.is_file(), "model.path", f"model file {model_path} not found",
                "copy the bundle there or fix model.path (relative to the config file)")
    c.check(model["threads"] >= 0, "model.threads", "must be 0 or more", "set threads = 0 for the default")
    c.check(model["threshold"] is None or model["threshold"] >= 0, "model.threshold",
            f"{model['threshold']} is negative: every part would be NG",
            "remove it to use the bundle's threshold, or write the score above which a part is NG")
    pipeline = c.table(top["pipeline"], PIPELINE, "pipeline")
    for key in ("queue_size", "max_batch"):
        c.check(pipeline[key] >= 1, f"pipeline.{key}", f"must be at least 1, got {pipeline[key]}", f"set {key} = 1")
    cameras = _cameras(c, top["cameras"])
    sinks = _sinks(c, top["sinks"])
    storage = c.table(top["storage"], STORAGE, "storage")
    data_dir = (base / storage["data_dir"]).resolve() if storage["data_dir"] else base
    c.check(not data_dir.exists() or data_dir.is_dir(), "storage.data_dir", f"{data_dir} is a file, not a folder",
            "point data_dir at a folder (or remove the file)")
    if "sqlite" in sinks:
        for key in ("path", "image_dir"):
            sinks["sqlite"][key] = str((data_dir / sinks["sqlite"][key]).resolve())
        db, images = Path(sinks["sqlite"]["path"]), Path(sinks["sqlite"]["image_dir"])
        c.check(not db.is_dir(), "sinks.sqlite.path", f"{db} is a folder, not a database file",
                'name a file, e.g. path = "inspections.db"')
        c.check(not images.exists() or images.is_dir(), "sinks.sqlite.image_dir", f"{images} is a file, not a folder",
                'name a folder, e.g. image_dir = "images"')
    if "mqtt" in sinks:
        for key in ("password_file", "ca_file"):
            if sinks["mqtt"][key]:
                sinks["mqtt"][key] = str((base / sinks["mqtt"][key]).resolve())
    log_cfg = c.table(top["log"], LOG, "log")
    c.check(log_cfg["level"] in ("debug", "info", "warning", "error"), "log.level",
            f"{log_cfg['level']!r} is not a level", "use debug, info, warning or error")
    c.check(log_cfg["format"] in ("kv", "json"), "log.format", f"{log_cfg['format']!r} is unknown", "use kv or json")
    return StationConfig(path=path, station=top["station"], model_path=model_path, threshold=model["threshold"],
                         provider=model["provider"], threads=model["threads"], cameras=cameras,
                         queue_size=pipeline["queue_size"], max_batch=pipeline["max_batch"], sinks=sinks,
                         data_dir=data_dir, log_level=log_cfg["level"], log_format=log_cfg["format"])


def _cameras(c: _Checker, items: list[Any]) -> list[CameraConfig]:
    c.check(len(items) > 0, "cameras", "no camera configured", "add a [[cameras]] table")
    cameras, seen = [], set()
    for i, item in enumerate(items):
        where = f"cameras[{i}]"
        cam = c.table(item, CAMERA, where)
        c.check(bool(_ID.match(cam["id"])), f"{where}.id", f"{cam['id']!r} is not a valid id",
                "use letters, digits, '-', '_' or '.'")
        c.check(cam["id"] not in seen, f"{where}.id", f"duplicate camera id {cam['id']!r}", "give each camera its own id")
        seen.add(cam["id"])
        source = dict(cam["source"])
        kind = source.pop("kind", None)
        c.check(kind is not None, f"{where}.source.kind", "missing", f"add kind = one of {sorted(SOURCES)}")
        c.check(isinstance(kind, str) and kind in SOURCES, f"{where}.source.kind", f"unknown kind {kind!r}",
                f"use one of {sorted(SOURCES)}")
        settings = c.table(source, SOURCES[kind].settings, f"{where}.source", f" for source kind {kind!r}")
        for key in ("max_fps", "open_timeout_s", "read_timeout_s", "backoff_initial_s", "backoff_max_s"):
            c.check(cam[key] > 0, f"{where}.{key}", f"must be positive, got {cam[key]}", "use a positive number")
        c.check(cam["backoff_max_s"] >= cam["backoff_initial_s"], f"{where}.backoff_max_s",
                "is below backoff_initial_s", "make backoff_max_s at least backoff_initial_s")
        c.check(cam["trigger"] in TRIGGERS, f"{where}.trigger", f"{cam['trigger']!r} is not a trigger mode",
                f"use one of {', '.join(TRIGGERS)}")
        roi = cam["roi"]
        if roi is not None:
            ok = len(roi) == 4 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in roi)
            c.check(ok and roi[2] > 0 and roi[3] > 0, f"{where}.roi", f"expected [x, y, width, height], got {roi}",
                    "write four whole pixel numbers, width and height above 0, e.g. roi = [0, 0, 640, 480]")
            roi = tuple(roi)
        for key in ("size", "width", "height"):
            c.check(settings.get(key) is None or settings[key] <= MAX_FRAME_SIDE, f"{where}.source.{key}",
                    f"{settings.get(key)} pixels is more than any camera delivers",
                    f"use at most {MAX_FRAME_SIDE} (0, where allowed, means the camera's default)")
        for key in ("fps", "ng_rate", "size"):
            if key in settings and settings[key] is not None:
                low = 0 if key == "fps" else (16 if key == "size" else 0)
                c.check(settings[key] >= low and (key != "ng_rate" or settings[key] <= 1),
                        f"{where}.source.{key}", f"{settings[key]} is out of range", "see the kind's settings")
        if kind == "synthetic":
            c.check(settings.get("style") in STYLES, f"{where}.source.style", f"{settings.get('style')!r} is not a "
                    "surface style", f"use one of {', '.join(STYLES)}")
        cameras.append(CameraConfig(id=cam["id"], kind=kind, source=settings, roi=roi, max_fps=cam["max_fps"],
                                    trigger=cam["trigger"], open_timeout_s=cam["open_timeout_s"],
                                    read_timeout_s=cam["read_timeout_s"], backoff_initial_s=cam["backoff_initial_s"],
                                    backoff_max_s=cam["backoff_max_s"], reject_repeats=cam["reject_repeats"]))
    return cameras


def check_camera(raw: dict[str, Any], name: str) -> CameraConfig:
    """One [[cameras]] table checked with the station config's rules (the GUI's camera settings use it)."""
    return _cameras(_Checker(Path(name)), [raw])[0]


def _sinks(c: _Checker, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = {kind: Field((dict,), None, help=f"the {kind} sink") for kind in SINKS}
    tables = c.table(raw, spec, "sinks")
    sinks = {kind: c.table(table, SINKS[kind], f"sinks.{kind}") for kind, table in tables.items() if table is not None}
    for kind, table in sinks.items():
        if "port" in table:
            c.check(0 < table["port"] < 65536, f"sinks.{kind}.port", f"{table['port']} is not a port",
                    "use 1..65535")
    if "mqtt" in sinks:
        c.check(sinks["mqtt"]["qos"] in (0, 1, 2), "sinks.mqtt.qos", f"{sinks['mqtt']['qos']} is not a QoS",
                "use 0, 1 or 2 (1 recommended)")
    if "opcua" in sinks:
        c.check(sinks["opcua"]["endpoint"].startswith("opc.tcp://"), "sinks.opcua.endpoint",
                "must start with opc.tcp://", "e.g. endpoint = \"opc.tcp://0.0.0.0:4840\"")
    if "sqlite" in sinks:
        s = sinks["sqlite"]
        c.check(s["save_ok_every"] >= 0, "sinks.sqlite.save_ok_every", "must be 0 or more", "0 saves no OK image")
        c.check(s["disk_budget_mb"] >= 0, "sinks.sqlite.disk_budget_mb", "must be 0 or more", "e.g. 1024")
    return sinks
