"""`inspector golden add|list|run|remove|ack`: a station's golden samples (inspector.live.golden).

The golden folder is `<data_dir>/golden` of the station config (`--config`). `add` and `run` load the
config's model (the start recipe's, with the config's threshold), as the station does. With `--recipe NAME`
`add`, `list`, `run` and `remove` work on that recipe's own set (`<data_dir>/golden/NAME/`) with its bundle and
threshold: the set the station runs after a changeover to it. `run` exits 0 when
every sample passes, 1 when one fails (with the table), 2 on bad input. `ack` clears a failed self-test's
block of a station, running or not, with an audit entry in `<data_dir>/audit.jsonl`.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.errors import InspectorError
from inspector.live.golden import DEFAULT_TOLERANCE, EXPECTED, GoldenRun, GoldenSet, Sample, acknowledge

if TYPE_CHECKING:
    from inspector.engine import Engine
    from inspector.live.config import StationConfig

DEFAULT_CONFIG = Path("station.toml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", required=True)
    texts = {
        "add": "add a reference image with the verdict it must get (its score is recorded now)",
        "list": "the golden samples",
        "run": "inspect every sample now: exit 0 pass, 1 fail",
        "remove": "remove a sample",
        "ack": "acknowledge a failed self-test: the station may run again",
    }
    for name, text in texts.items():
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG, help=f"the station TOML (default {DEFAULT_CONFIG})"
        )
        if name == "add":
            command.add_argument("image", type=Path)
            command.add_argument("--expect", required=True, type=str.upper, choices=EXPECTED)
            command.add_argument(
                "--tolerance",
                type=float,
                default=DEFAULT_TOLERANCE,
                help=f"how far the score may move, as a fraction of the threshold (default {DEFAULT_TOLERANCE})",
            )
        if name == "remove":
            command.add_argument("name", help="the sample's name (see `inspector golden list`)")
        if name == "ack":
            command.add_argument("--who", default=getpass.getuser(), help="who acknowledges (the audit entry)")
            command.add_argument("--why", default="", help="why (the audit entry)")
        if name in ("list", "run"):
            command.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name != "ack":
            command.add_argument(
                "--recipe",
                default="",
                help="a `[recipes.<name>]`: its own golden set, judged "
                "by its bundle and threshold (default: the station's)",
            )


def _config(path: Path) -> StationConfig:
    from inspector.live.config import load_config

    return load_config(path)


def _engine(config: StationConfig, recipe: str = "") -> Engine:
    from inspector.live.recipes import recipe_config
    from inspector.live.station import build_engine

    return build_engine(recipe_config(config, recipe or config.recipe))


def _recipe(config: StationConfig, recipe: str) -> str:
    if recipe and recipe not in config.recipes:
        raise InspectorError(
            f"--recipe {recipe}: no [recipes.{recipe}] in {config.path}",
            f"use one of {sorted(config.recipes) or 'the recipes you add to the config'}",
        )
    return recipe


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _list_table(samples: list[Sample]) -> str:
    return _table(
        ["name", "expect", "score", "tolerance", "model", "added"],
        [[s.name, s.expect, f"{s.score:.4g}", f"{s.tolerance:.4g}", s.model[:12], s.added] for s in samples],
    )


def run_table(outcome: GoldenRun) -> str:
    """The table `inspector golden run` prints."""
    rows = [
        [
            r.name,
            r.expect,
            r.got,
            "-" if r.score is None else f"{r.score:.4g}",
            f"{r.recorded:.4g}",
            f"{r.tolerance:.4g}",
            "pass" if r.passed else "FAIL",
            r.problem,
        ]
        for r in outcome.rows
    ]
    verdict = "PASS" if outcome.passed else f"FAIL ({len(outcome.failures)} of {len(outcome.rows)})"
    head = f"golden self-test: {verdict}  model {outcome.model[:12]}  threshold {outcome.threshold:.4g}"
    return head + "\n" + _table(["name", "expect", "got", "score", "recorded", "tolerance", "result", "problem"], rows)


def run(args: argparse.Namespace) -> int:
    config = _config(args.config)
    recipe = _recipe(config, getattr(args, "recipe", ""))
    golden = GoldenSet(config.data_dir / "golden").for_recipe(recipe)
    if args.command == "add":
        if not args.image.is_file():
            raise InspectorError(f"{args.image}: no such image file", "check the path")
        sample = golden.add(args.image, args.expect, _engine(config, recipe), tolerance=args.tolerance)
        print(
            f"added {sample.name}: {sample.expect}, score {sample.score:.4g} +/- {sample.tolerance:.4g} "
            f"({golden.folder})"
        )
        return 0
    if args.command == "remove":
        golden.remove(args.name)
        print(f"removed {args.name}")
        return 0
    if args.command == "ack":
        blocked = acknowledge(golden.folder, config.data_dir / "audit.jsonl", who=args.who, why=args.why)
        print(
            "nothing to acknowledge: the self-test is not blocking"
            if blocked is None
            else f"acknowledged: {blocked.get('reason', '')}"
        )
        return 0
    samples = golden.samples()
    if not samples:
        raise InspectorError(
            f"no golden samples in {golden.folder}",
            "add some: inspector golden add IMAGE --expect OK|NG --config ..."
            + (f" --recipe {recipe}" if recipe else ""),
        )
    if args.command == "list":
        print(json.dumps([vars(s) for s in samples], indent=2) if args.json else _list_table(samples))
        return 0
    outcome = golden.run(_engine(config, recipe), trigger="cli")
    print(json.dumps(outcome.to_dict(), indent=2) if args.json else run_table(outcome))
    return 0 if outcome.passed else 1
