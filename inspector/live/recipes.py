"""Recipes and changeover (docs/plc.md#recipes): a named set of settings per product, switched while running.

A recipe (`[recipes.<name>]` of the station config) names a bundle, optionally a threshold, and the ROI of each
camera it changes. Its golden samples (the self-test after a changeover to it) live in
`<data_dir>/golden/<name>/` (inspector.live.golden), not in the config. `Changeover.select(name)` checks
the recipe *before* anything changes: the name, that its cameras are the station's, and that its bundle
passes `load_bundle` (checksum, and signature by a trusted key when `[model] trusted_keys` lists any). Only
then the station swaps engine, ROIs and recipe name at once, between two batches. On any failure the running
recipe keeps going and the caller gets an error code (107-109). Every request, accepted or refused, is one
audit entry. The lot (`set_lot`) is stamped on every record from the next batch on.

The PLC (OPC UA, MQTT), the CLI (HTTP port) and the GUI all go through the station's one `Changeover`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import BeforeValidator, ValidationError, ValidationInfo, field_validator

from inspector.audit import record_safely
from inspector.errors import InspectorError
from inspector.live.handshake import ErrorCode
from inspector.live.settings import ConfigModel, explained, fail, setting
from inspector.live.sources import SOURCES

if TYPE_CHECKING:
    from inspector.engine import Engine
    from inspector.live.config import CameraConfig, StationConfig, StationFile

log = logging.getLogger(__name__)
MAX_LOT = 64  # characters
Roi = tuple[int, int, int, int]


def _path(value: Any) -> Any:
    return Path(value) if isinstance(value, str) else value


class RecipeCamera(ConfigModel):
    """`[recipes.<name>.cameras.<camera id>]`: what the recipe changes on one camera."""

    roi: Roi | None = setting(
        None,
        shown="whole frame",
        help="pixels inspected [x, y, width, height] while the recipe runs",
        problem="expected [x, y, width, height], got {input}",
        fix="write four whole pixel numbers, e.g. roi = [0, 0, 640, 480]",
    )

    source: dict[str, Any] = setting(
        {},
        shown="`{}`",
        help="source settings the recipe changes on this camera, e.g. `{ exposure_us = 800, gain_db = 2 }` "
        "(checked by the camera's kind; the camera reopens with them at the changeover, the sinks keep running)",
    )

    @field_validator("source")
    @classmethod
    def _no_kind(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "kind" in value:
            raise fail(("source",), "a recipe cannot change a camera's kind", "remove `kind` from the recipe's source")
        return value

    @field_validator("roi", mode="before")
    @classmethod
    def _as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("roi")
    @classmethod
    def _positive(cls, value: Roi | None) -> Roi | None:
        if value is not None and (min(value) < 0 or value[2] == 0 or value[3] == 0):
            raise fail(
                (),
                f"expected [x, y, width, height], got {list(value)}",
                "write four whole pixel numbers, width and height above 0",
            )
        return value


class RecipeSettings(ConfigModel):
    """`[recipes.<name>]`: one product's settings. Cameras it does not list keep their `[[cameras]]` roi."""

    model: Annotated[Path, BeforeValidator(_path)] = setting(
        help="the recipe's bundle `.onnx` (with its `.sha256`; signed when `[model] trusted_keys` lists keys), "
        "relative to the config file"
    )
    threshold: float | None = setting(None, shown="the bundle's", ge=0, help="overrides the bundle's threshold")
    description: str = setting("", help="the product in words (shown by `inspector recipe list`)")
    cameras: dict[str, RecipeCamera] = setting({}, shown="`{}`", help="per camera id: `roi`")
    golden: list[str] = setting(
        [],
        shown="`[]`",
        help="not set here: a recipe's golden samples are added with `inspector golden add IMAGE "
        "--expect OK|NG --recipe NAME` (kept in `<data_dir>/golden/<name>/`, docs/verdicts.md)",
    )

    @field_validator("golden")
    @classmethod
    def _golden_not_listed(cls, value: list[str]) -> list[str]:
        if value:  # an image alone has no expected verdict nor recorded score: it cannot be a golden sample
            raise fail(
                (),
                f"golden = {value}: a recipe's golden samples are not listed in the config",
                "remove `golden`; add each image with `inspector golden add IMAGE --expect OK|NG --recipe "
                "NAME --config ...` (stored in <data_dir>/golden/NAME/)",
            )
        return value

    @field_validator("model")
    @classmethod
    def _bundle_there(cls, value: Path, info: ValidationInfo) -> Path:
        context = info.context if isinstance(info.context, dict) else {}
        path = (Path(context.get("config_dir", ".")) / value).resolve()
        if context.get("check_model") and not path.is_file():
            raise fail((), f"model file {path} not found", "copy the bundle there or fix the recipe's model path")
        return path


def recipe_config(config: StationConfig, name: str) -> StationConfig:
    """`config` with recipe `name`'s bundle and threshold as its `[model]` ("" = `config` itself)."""
    if not name:
        return config
    recipe = config.recipes[name]
    model = config.model.model_copy(update={"path": recipe.model, "threshold": recipe.threshold})
    return config.model_copy(update={"model": model})


def recipe_rois(config: StationConfig, name: str) -> dict[str, Roi | None]:
    """Every camera's ROI under recipe `name`: the recipe's, else the camera's own."""
    listed = config.recipes[name].cameras if name else {}
    return {cam.id: listed[cam.id].roi if cam.id in listed else cam.roi for cam in config.cameras}


@dataclass(frozen=True)
class ChangeOutcome:
    """The answer to one recipe or lot request (what the PLC reads back)."""

    change_id: int  # +1 per request answered (from 1 at each start)
    kind: str  # "recipe" or "lot"
    requested: str
    recipe: str  # running after the request
    lot: str
    error_code: ErrorCode = ErrorCode.NONE
    error_text: str = ""
    model: str = ""  # fingerprint of the running model

    @property
    def ok(self) -> bool:
        return self.error_code is ErrorCode.NONE

    def summary(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "kind": self.kind,
            "requested": self.requested,
            "recipe": self.recipe,
            "lot": self.lot,
            "error_code": int(self.error_code),
            "error_text": self.error_text,
            "model": self.model,
        }


def recipe_cameras(config: StationFile, name: str) -> list[CameraConfig]:
    """Every camera's settings under recipe `name`: its `[cameras.source]` with the recipe's `source` on top."""
    listed = config.recipes[name].cameras if name else {}
    out = []
    for cam in config.cameras:
        changes = listed[cam.id].source if cam.id in listed else {}
        out.append(cam.model_copy(update={"source": {**cam.source, **changes}}) if changes else cam)
    return out


def check_recipe_sources(config: StationFile, name: str) -> str:
    """ "" when every camera's settings under recipe `name` are valid for its kind, else what is wrong."""
    for cam in recipe_cameras(config, name):
        settings = {k: v for k, v in cam.source.items() if k != "kind"}
        try:
            SOURCES[cam.kind].Settings.model_validate(settings)
        except (KeyError, ValidationError) as exc:
            detail = explained(exc)[0] if isinstance(exc, ValidationError) else ("kind", f"unknown kind {exc}", "")
            return f"camera {cam.id!r}: {detail[0]}: {detail[1]}"
    return ""


class StationLike(Protocol):
    """What Changeover needs of inspector.live.station.Station (documented here, duck-typed there)."""

    config: StationConfig
    recipe: str
    lot: str
    engine: Engine

    def swap_engine(
        self, engine: Engine, *, recipe: str | None = None, rois: dict[str, Roi | None] | None = None
    ) -> None: ...

    def set_lot(self, lot: str) -> None: ...

    def set_cameras(self, cameras: list[CameraConfig]) -> None: ...


Listener = Callable[[ChangeOutcome], None]


class Changeover:
    """The station's recipe and lot switch: thread-safe, one request at a time; listeners (the OPC UA and
    MQTT transports) hear every answer and must not block."""

    def __init__(
        self, station: StationLike, build: Callable[[StationConfig], Engine], *, audit_path: Path | None = None
    ) -> None:
        self._station = station
        self._build = build
        self._audit_path = audit_path
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.change_id = 0
        self.last: ChangeOutcome | None = None

    @property
    def recipe(self) -> str:
        return self._station.recipe

    @property
    def lot(self) -> str:
        return self._station.lot

    def names(self) -> list[str]:
        return sorted(self._station.config.recipes)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the running recipe and lot, every recipe, the last answer (GET /recipes)."""
        recipes = self._station.config.recipes
        return {
            "recipe": self.recipe,
            "lot": self.lot,
            "model": self._station.engine.fingerprint,
            "recipes": [
                {
                    "name": name,
                    "model": str(recipes[name].model),
                    "description": recipes[name].description,
                    "threshold": recipes[name].threshold,
                }
                for name in self.names()
            ],
            "last": self.last.summary() if self.last else None,
        }

    def state(self) -> ChangeOutcome:
        """The last answer, or (none yet) the running recipe and lot as change 0."""
        return self.last or ChangeOutcome(0, "", "", self.recipe, self.lot, model=self._station.engine.fingerprint)

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def select(self, name: str, *, who: str, why: str = "") -> ChangeOutcome:
        """Verify recipe `name` and switch to it; on any failure keep the running one (the outcome says why)."""
        name = str(name).strip()
        with self._lock:
            old, old_model = self.recipe, self._station.engine.fingerprint
            problem = self._problem(name)
            engine = None
            if problem is None:
                try:
                    engine = self._build(recipe_config(self._station.config, name))
                except Exception as exc:  # noqa: BLE001 (any bundle that cannot be used is refused, whatever the loader raises)
                    text = exc.message if isinstance(exc, InspectorError) else f"{type(exc).__name__}: {exc}"
                    problem = (ErrorCode.RECIPE_REFUSED, f"recipe {name!r}: {text}"[:200])
            if problem is not None or engine is None:
                code, text = problem or (ErrorCode.RECIPE_REFUSED, "no engine")
                log.error(
                    "recipe change refused; the running recipe keeps going",
                    extra={"fields": {"requested": name, "running": old, "error": text, "who": who}},
                )
                self._audit("recipe_refused", name, old, None, f"{why} (refused: {text})".strip(), who)
                return self._answer("recipe", name, code, text)
            self._station.swap_engine(engine, recipe=name, rois=recipe_rois(self._station.config, name))
            self._station.set_cameras(recipe_cameras(self._station.config, name))  # reopens only changed cameras
            self._audit(
                "recipe",
                name,
                {"recipe": old, "model": old_model},
                {"recipe": name, "model": engine.fingerprint},
                why,
                who,
            )
            log.info(
                "recipe changed",
                extra={"fields": {"recipe": name, "was": old, "who": who, "model": engine.fingerprint[:16]}},
            )
            return self._answer("recipe", name)

    def set_lot(self, lot: str, *, who: str, why: str = "") -> ChangeOutcome:
        """Stamp `lot` on every record from the next batch on ("" ends the lot)."""
        lot = str(lot).strip()
        with self._lock:
            if len(lot) > MAX_LOT or any(ord(ch) < 32 for ch in lot):
                return self._answer(
                    "lot", lot, ErrorCode.BAD_LOT_ID, f"a lot id has at most {MAX_LOT} printable characters"
                )
            old = self.lot
            self._station.set_lot(lot)
            self._audit("lot", "lot", old, lot, why, who)
            return self._answer("lot", lot)

    def submit(self, kind: str, value: str, *, who: str) -> None:
        """`select` or `set_lot` on a thread of its own (for a transport's I/O thread: a bundle load takes time)."""
        work = self.select if kind == "recipe" else self.set_lot
        threading.Thread(target=lambda: work(value, who=who), name=f"changeover-{kind}", daemon=True).start()

    # ------------------------------------------------------------------ internals (lock held)
    def _problem(self, name: str) -> tuple[ErrorCode, str] | None:
        config = self._station.config
        if name not in config.recipes:
            known = ", ".join(self.names()) or "none configured"
            return ErrorCode.UNKNOWN_RECIPE, f"no recipe {name!r} (recipes: {known})"[:200]
        cameras = {cam.id for cam in config.cameras}
        unknown = sorted(set(config.recipes[name].cameras) - cameras)
        if unknown:
            return ErrorCode.RECIPE_INVALID, f"recipe {name!r} names camera(s) {', '.join(unknown)} not in station"
        bad = check_recipe_sources(config, name)
        if bad:
            return ErrorCode.RECIPE_INVALID, f"recipe {name!r}: {bad}"[:200]
        return None

    def _answer(self, kind: str, requested: str, code: ErrorCode = ErrorCode.NONE, text: str = "") -> ChangeOutcome:
        self.change_id += 1
        outcome = ChangeOutcome(
            self.change_id, kind, requested, self.recipe, self.lot, code, text, self._station.engine.fingerprint
        )
        self.last = outcome
        for listener in list(self._listeners):
            try:
                listener(outcome)
            except Exception as exc:  # noqa: BLE001 (a transport's failure must not break a changeover)
                log.error("changeover listener failed: %s", exc)
        return outcome

    def _audit(self, action: str, target: str, old: object, new: object, why: str, who: str) -> None:
        if self._audit_path is not None:
            record_safely(self._audit_path, action, who=who, target=target, old=old, new=new, why=why)
