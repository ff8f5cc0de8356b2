"""`inspector <verb>`: one command line; each verb's module is imported only when it runs.

A verb module exposes `add_arguments(parser)` and `run(args) -> int`. Modules of the
training side (torch, timm) are named here as strings, so the edge runtime never imports them
unless that verb is asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from inspector import __version__
from inspector.errors import InspectorError


@dataclass(frozen=True)
class Verb:
    module: str
    help: str
    extra: str = ""  # the pip extra the verb needs beyond the runtime


VERBS: dict[str, Verb] = {
    "demo": Verb("inspector.demo", "the bundled demo model on a synthetic line, in the GUI (--headless: terminal)"),
    "batch": Verb(
        "inspector.batch.command", "re-inspect files, folders, globs or manifests; results, heatmaps, report"
    ),
    "compare": Verb("inspector.batch.compare", "list the parts whose verdict differs between two batch runs"),
    "benchmark": Verb("inspector.batch.benchmark", "latency and throughput of a bundle per batch size and provider"),
    "data check": Verb("inspector.data.check", "report counts, sizes, unreadable files and duplicates of a dataset"),
    "train": Verb(
        "training.cli", "fit a model on a dataset (anomaly: good images only; classify: labelled defect types)", "train"
    ),
    "export": Verb("export.cli", "write a training run as one self-describing ONNX bundle", "train"),
    "keys": Verb(
        "inspector.signing", "ed25519 keys that sign model bundles: new, list, sign, verify (docs/signing.md)"
    ),
    "audit": Verb("inspector.audit", "the hash-chained audit trail of verdict-affecting changes: verify, show, export"),
    "recipe": Verb("inspector.live.control", "a running station's recipes: list, select (docs/plc.md#recipes)"),
    "lot": Verb("inspector.live.control", "the lot a running station stamps on every result: show, set"),
    "golden": Verb("inspector.live.golden_cli", "the golden-sample self-test: add, list, run, remove, ack"),
    "shadow": Verb("inspector.live.shadow_cli", "a running station's shadow candidate: status, promote, rollback"),
    "report": Verb("inspector.live.report", "lot and shift reports from the inspection log: counts, yield, NG rate"),
    "daemon": Verb("inspector.live.daemon", "run the headless inspection daemon from a station config"),
    "gui": Verb("inspector.gui.app", "the operator GUI: live views, counters, rejects, engineer mode", "gui"),
}


def _find_verb(argv: list[str]) -> tuple[str, list[str]] | None:
    for words in (2, 1):
        name = " ".join(argv[:words])
        if name in VERBS:
            return name, argv[words:]
    return None


def _usage() -> str:
    lines = [f"inspector {__version__}: edge visual quality inspection", "", "usage: inspector <verb> [options]", ""]
    lines += [f"  {name:<12} {verb.help}" for name, verb in VERBS.items()]
    lines += ["", "`inspector <verb> --help` shows a verb's options."]
    return "\n".join(lines)


def _missing_extra(name: str, verb: Verb, exc: ModuleNotFoundError) -> InspectorError | None:
    """A clear message when a verb's optional dependency is not installed (None for our own bugs)."""
    if verb.extra and exc.name and not exc.name.startswith(("inspector", "training", "export")):
        return InspectorError(
            f"`inspector {name}` needs the {verb.extra!r} extra ({exc.name} is not installed)",
            f"pip install 'inspector[{verb.extra}]'",
        )
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    found = _find_verb(argv)
    if found is None:
        print(f"inspector: unknown verb {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    name, rest = found
    verb = VERBS[name]
    try:
        try:
            module = importlib.import_module(verb.module)
            parser = argparse.ArgumentParser(prog=f"inspector {name}", description=verb.help)
            module.add_arguments(parser)
            args = parser.parse_args(rest)
            return int(module.run(args) or 0)
        except ModuleNotFoundError as exc:
            missing = _missing_extra(name, verb, exc)
            if missing is None:
                raise
            raise missing from exc
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
