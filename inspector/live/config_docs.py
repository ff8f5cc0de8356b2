"""The tables of docs/station-config.md, generated from the station config's models (so they cannot drift).

`python -m inspector.live.config_docs` rewrites every table between `<!-- generated: NAME -->` and
`<!-- end generated -->` in docs/station-config.md (the prose around them is kept); `--check` exits 1
when the file differs from what the models say (tests/live/test_config_docs.py runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from inspector.live.config import (
    CameraConfig,
    LogSettings,
    ModelSettings,
    PipelineSettings,
    ShadowSettings,
    StationFile,
    StorageSettings,
    VerdictSettings,
)
from inspector.live.golden_schedule import GoldenSettings
from inspector.live.recipes import RecipeCamera, RecipeSettings
from inspector.live.sinks import sink_class, sink_kinds
from inspector.live.sources import SOURCES

DOC = Path(__file__).resolve().parents[2] / "docs" / "station-config.md"
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w.]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL)
_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", Path: "string", SecretStr: "string"}


def tables() -> dict[str, type[BaseModel]]:
    """Every table of the file by its block name: top, model, ..., source.<kind>, sinks.<kind>."""
    out: dict[str, type[BaseModel]] = {
        "top": StationFile,
        "model": ModelSettings,
        "pipeline": PipelineSettings,
        "cameras": CameraConfig,
        "storage": StorageSettings,
        "log": LogSettings,
        "verdict": VerdictSettings,
        "recipes": RecipeSettings,
        "recipes.cameras": RecipeCamera,
        "shadow": ShadowSettings,
        "golden": GoldenSettings,
    }
    out.update({f"source.{kind}": cls.Settings for kind, cls in sorted(SOURCES.items())})
    out.update({f"sinks.{kind}": sink_class(kind).Settings for kind in sink_kinds()})
    return out


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None))
    if origin is Literal:
        return "string" if all(isinstance(a, str) for a in args) else "integer"
    if hasattr(annotation, "__metadata__"):
        return _type(args[0])
    if origin is tuple:
        return "`[x, y, width, height]`" if len(args) == 4 else "array"
    if origin is list:
        inner = args[0] if args else Any
        inner = get_args(inner)[0] if hasattr(inner, "__metadata__") else inner
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "array of tables"
        return f"array of {_type(inner)}s" if get_origin(inner) is not Literal else "array of strings"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "table"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _range(info: FieldInfo) -> str:
    low = high = ""
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"{item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
    if low.startswith("≥") and high and not high.startswith("<"):
        return f" {low[2:]}–{high}" if float(low[2:]).is_integer() and _whole(info) else f" in [{low[2:]}, {high}]"
    if high:
        return f" {low}, ≤ {high}" if low else f" ≤ {high}"
    return f" {low}" if low else ""


def _whole(info: FieldInfo) -> bool:
    return "integer" in _type(info.annotation)


def _default(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    return f"`{value}`"


def table(model: type[BaseModel]) -> str:
    """The markdown table of one model: key, type (with its range), default, meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("docs") is False:
            continue
        kind = _type(info.annotation) + _range(info)
        if SecretStr in (info.annotation, *get_args(info.annotation)):
            kind = "string (secret)"
        meaning = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | {_default(info)} | {meaning} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """`text` (the doc) with every generated block rewritten; an unknown block name is an error."""
    known = tables()

    def block(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in known:
            raise KeyError(f"docs/station-config.md: no model for generated block {name!r} (known: {sorted(known)})")
        return f"{match.group(1)}{table(known[name])}{match.group(4)}"

    return _BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspector.live.config_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when the doc differs from the models")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if args.check:
        if fresh != text:
            print(
                f"{DOC}: tables differ from the config models; run python -m inspector.live.config_docs",
                file=sys.stderr,
            )
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
