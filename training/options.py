"""Command-line options derived from config dataclasses, so each option is declared once: on its field.

A field becomes an option when it is declared with `option(...)`: the flag, type, default and help
come from the field; `config_from_args` builds the config back from the parsed arguments.
Torch-free, for `inspector train` and `inspector export`.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, Field, field, fields
from pathlib import Path
from typing import Any, TypeVar

OPTION = "inspector.option"
Config = TypeVar("Config")


def option(
    help: str, default: Any = MISSING, *, flag: str | None = None, positional: bool = False, **argparse_kwargs: Any
) -> Any:
    """A config field that is also a command-line option (`argparse_kwargs` override what the field implies,
    e.g. `type=str, cli_default=None` where the command line takes text that the verb parses)."""
    meta = {OPTION: {"help": help, "flag": flag, "positional": positional, **argparse_kwargs}}
    return field(metadata=meta) if default is MISSING else field(default=default, metadata=meta)


def _base_type(hint: Any) -> Any:
    """`X` of `X | None` / `Optional[X]`; the hint itself otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return hint


def option_fields(cls: type) -> list[Field]:
    return [f for f in fields(cls) if OPTION in f.metadata]


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, skip: set[str] | None = None
) -> set[str]:
    """Add an option for every `option(...)` field of `cls` not named in `skip`; returns the names added."""
    hints = typing.get_type_hints(cls)
    added = set()
    for spec in option_fields(cls):
        if skip and spec.name in skip:
            continue
        meta = dict(spec.metadata[OPTION])
        flag, positional = meta.pop("flag"), meta.pop("positional")
        kwargs: dict[str, Any] = {"help": meta.pop("help")}
        default = meta.pop("cli_default", spec.default)
        kind = _base_type(hints[spec.name])
        if kind is bool:
            kwargs["action"] = "store_false" if default is True else "store_true"
            flag = flag or ("--no-" if default is True else "--") + spec.name.replace("_", "-")
        else:
            kwargs["type"] = kind if kind in (int, float, str, Path) else str
            if default is not MISSING:
                kwargs["default"] = default
            elif not positional:
                kwargs["required"] = True
        kwargs.update(meta)
        if positional:
            parser.add_argument(spec.name, **kwargs)
        else:
            parser.add_argument(flag or "--" + spec.name.replace("_", "-"), dest=spec.name, **kwargs)
        added.add(spec.name)
    return added


def config_from_args(cls: type[Config], args: argparse.Namespace, **overrides: Any) -> Config:
    """`cls` from the parsed options of its own fields (others keep their defaults), with `overrides`."""
    values = {f.name: getattr(args, f.name) for f in option_fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})
