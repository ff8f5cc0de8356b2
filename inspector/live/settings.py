"""The base of every station-config model (pydantic v2): closed tables, ranges in `Field`, plain-words errors.

Each table of the station config is a `ConfigModel`: unknown keys are refused (`extra="forbid"`), types
are strict (no `"5"` for 5, no `true` for 1), numbers must be finite, defaults are validated too. Each
model explains its own errors in the station config's words (the field, the problem, the fix), so the
loader only joins them (inspector.live.config_errors). Source and sink kinds declare their settings as
a `ConfigModel` next to their code (`Source.Settings`, `Sink.Settings`).

Declare a setting with `setting(default, help=..., **constraints)`; `problem=`/`fix=` replace the
generic wording of a value error (`{input!r}` is the value written), `shown=` the default in the docs.

Secrets (a broker password) are `SecretStr` and come from one of three keys, at most one set:
`<name>` (in the file; discouraged), `<name>_file` (a file holding it, e.g. a systemd credential;
relative to the config file) or `<name>_env` (an environment variable's name). See `check_secret`.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_FRAME_SIDE = 16384  # pixels: no camera delivers more (a 16K frame is already 800 MB of RGB)
ERROR = "config"  # the pydantic error type of an explained error: ctx holds problem and fix


def setting(
    default: Any = ...,
    *,
    help: str,
    problem: str | None = None,
    fix: str | None = None,
    shown: str | None = None,
    docs: bool = True,
    **constraints: Any,
) -> Any:
    """A `Field` with the help line (docs and messages), optional own wording of its value errors, the default
    as the docs show it (`shown`), and `docs=False` for a field that is not a key of the file."""
    extra: dict[str, Any] = {
        key: value for key, value in (("problem", problem), ("fix", fix), ("shown", shown)) if value
    }
    if not docs:
        extra["docs"] = False
    if "default_factory" in constraints:
        return Field(description=help, json_schema_extra=extra or None, **constraints)
    return Field(default, description=help, json_schema_extra=extra or None, **constraints)


def fail(loc: tuple[str | int, ...], problem: str, fix: str, value: Any = None) -> ValidationError:
    """An explained error at `loc` (relative to the model raising it); raise it from a validator."""
    error = PydanticCustomError(ERROR, "{problem}", {"problem": problem, "fix": fix})
    return ValidationError.from_exception_data("station config", [{"type": error, "loc": loc, "input": value}])


class ConfigModel(BaseModel):
    """A closed table of the station config; `what` names it in "unknown key" messages."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, validate_default=True, frozen=True, hide_input_in_errors=False
    )
    what: ClassVar[str] = ""

    @model_validator(mode="wrap")
    @classmethod
    def _explain(cls, data: Any, handler: Any) -> Any:
        if data is not None and not isinstance(data, (dict, BaseModel)):
            raise fail((), f"expected a table, got {shown(data)}", "write it as a [table] of key = value lines")
        try:
            return handler(data)
        except ValidationError as exc:
            lines: list[Any] = [
                {
                    "type": PydanticCustomError(ERROR, "{problem}", explain(cls, error, data)),
                    "loc": error["loc"],
                    "input": error.get("input"),
                }
                for error in exc.errors()
            ]
            raise ValidationError.from_exception_data(exc.title, lines) from None


# --------------------------------------------------------------------------- the wording of pydantic's errors
_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    tuple: "a list",
    dict: "a table",
    Path: "a string (a path)",
    SecretStr: "a string",
}
_EXAMPLES = {
    bool: "true",
    int: "30",
    float: "0.5",
    str: '"text"',
    list: "[...]",
    tuple: "[...]",
    dict: "{...}",
    Path: '"path"',
    SecretStr: '"..."',
}


def explain(cls: type[ConfigModel], error: Any, data: Any) -> dict[str, str]:
    """Problem and fix for one pydantic error inside `cls` (errors of nested models arrive explained)."""
    if error["type"] == ERROR:
        return dict(error["ctx"])
    loc, kind, value = error["loc"], error["type"], error.get("input")
    name = str(loc[0]) if loc else ""
    info = cls.model_fields.get(name)
    help_text = info.description if info is not None and info.description else ""
    about = f" ({help_text})" if help_text else ""
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, list(cls.model_fields), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return {
            "problem": f"unknown key{cls.what} (known: {', '.join(sorted(cls.model_fields))})",
            "fix": f"{hint}remove it or fix its spelling",
        }
    if kind == "missing":
        return {"problem": "missing", "fix": f"add {name} = ...{about}"}
    base = _base_type(info.annotation) if info is not None else None
    if kind.endswith("_type") or kind in ("is_instance_of", "dataclass_exact_type"):
        if extra.get("problem") and len(loc) > 1:  # an item of a list: the field's own wording says the shape
            return {"problem": str(extra["problem"]).format(input=value), "fix": str(extra.get("fix", help_text))}
        expected = _TYPE_NAMES.get(base, "a value of another type") if base is not None else error["msg"]
        example = _EXAMPLES.get(base, "...") if base is not None else "..."
        return {"problem": f"expected {expected}, got {shown(value)}", "fix": f"write {name} = {example}{about}"}
    if kind == "finite_number":
        return {"problem": f"{value} is not a finite number", "fix": f"write a finite number{about}"}
    if extra.get("problem"):
        return {"problem": str(extra["problem"]).format(input=value), "fix": str(extra.get("fix", help_text))}
    ctx = error.get("ctx") or {}
    ranges = {
        "greater_than": (
            "must be positive" if ctx.get("gt") == 0 else f"must be above {ctx.get('gt')}",
            "use a positive number" if ctx.get("gt") == 0 else f"use a value above {ctx.get('gt')}",
        ),
        "greater_than_equal": (
            "must be 0 or more" if ctx.get("ge") == 0 else f"must be at least {ctx.get('ge')}",
            f"use {ctx.get('ge')} or more",
        ),
        "less_than": (f"must be below {ctx.get('lt')}", f"use less than {ctx.get('lt')}"),
        "less_than_equal": (f"must be at most {ctx.get('le')}", f"use {ctx.get('le')} or less"),
    }
    if kind in ranges:
        problem, fix = ranges[kind]
        return {"problem": f"{problem}, got {value}", "fix": f"{fix}{about}"}
    if kind == "literal_error":
        return {"problem": f"{value!r} is not one of {ctx.get('expected')}", "fix": f"use one of {ctx.get('expected')}"}
    if kind == "too_short":
        return {"problem": f"needs at least {ctx.get('min_length')} item(s)", "fix": f"add them{about}"}
    message = str(ctx.get("error", error["msg"]))
    return {"problem": message, "fix": f"see the setting's meaning{about}" if about else "see the docs"}


def _base_type(annotation: Any) -> type | None:
    """The type a value is checked against: `float | None` -> float, `Annotated[str, ...]` -> str."""
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        origin = getattr(arg, "__origin__", arg)
        if origin is Annotated or hasattr(arg, "__metadata__"):
            return _base_type(arg.__origin__)
        if isinstance(origin, type) and origin is not type(None):
            return origin
    return None


def shown(value: Any) -> str:
    """A value as the messages show it (a table or a list by what it is, the rest by repr)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# --------------------------------------------------------------------------- paths and secrets
def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def _config_path(value: str, info: ValidationInfo) -> str:
    """A path relative to the config file's folder ("" stays "": not set). Must exist when files are checked."""
    if not value:
        return ""
    context = _context(info)
    path = (Path(context.get("config_dir", ".")) / value).resolve()
    if context.get("check_files") and not path.is_file():
        raise PydanticCustomError(
            ERROR,
            "{problem}",
            {"problem": f"file {path} not found", "fix": "create it or fix the path (relative to the config file)"},
        )
    return str(path)


def _data_path(value: str, info: ValidationInfo) -> str:
    """A path relative to `storage.data_dir` (default: the config file's folder)."""
    context = _context(info)
    return str((Path(context.get("data_dir", context.get("config_dir", "."))) / value).resolve())


ConfigFile = Annotated[str, AfterValidator(_config_path)]  # an existing file, relative to the config file
DataPath = Annotated[str, AfterValidator(_data_path)]  # relative to storage.data_dir


def check_secret(model: BaseModel, name: str) -> None:
    """At most one of `<name>`, `<name>_file`, `<name>_env`; a named environment variable must be set."""
    given = [key for key in (name, f"{name}_file", f"{name}_env") if getattr(model, key)]
    if len(given) > 1:
        raise fail(
            (given[1],),
            f"{' and '.join(given)} are both set",
            f"keep one of them ({name}_file or {name}_env keep the secret out of this file)",
        )
    env = getattr(model, f"{name}_env")
    if env and env not in os.environ:
        raise fail(
            (f"{name}_env",),
            f"environment variable {env!r} is not set",
            f"set it in the daemon's environment (e.g. systemd Environment=/EnvironmentFile=) or use {name}_file",
        )


def secret(model: BaseModel, name: str) -> SecretStr | None:
    """The secret `name` from wherever the config says it is (file read now, stripped); None when unset."""
    inline, file, env = getattr(model, name), getattr(model, f"{name}_file"), getattr(model, f"{name}_env")
    if inline is not None:
        return inline
    if file:
        return SecretStr(Path(file).read_text(encoding="utf-8").strip())
    if env:
        return SecretStr(os.environ.get(env, ""))
    return None


def where(loc: tuple[str | int, ...]) -> str:
    """`('cameras', 1, 'source', 'fps')` -> `cameras[1].source.fps`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def explained(exc: ValidationError) -> list[tuple[str, str, str]]:
    """(field path, problem, fix) for every error of a ConfigModel's validation."""
    out = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        problem = ctx.get("problem", error["msg"]) if error["type"] == ERROR else error["msg"]
        out.append((where(error["loc"]), str(problem), str(ctx.get("fix", ""))))
    return out
