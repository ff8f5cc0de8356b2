"""`inspector shadow status|promote|rollback`: a running station's shadow candidate, over its health port.

The station's `[sinks.http]` (with `control = true`) serves GET /shadow, POST /shadow/promote and
/shadow/rollback when its config has `[shadow]`; the address comes from `--url` or the config's
`[sinks.http]` (`--config`), as for `inspector recipe`. `promote` runs the golden-sample self-test on the
candidate first and swaps only when it passes; a refusal exits 1 with the reason. Both are audit entries
naming `--who` (default: the OS user).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from inspector.live.control import DEFAULT_URL, call, station_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", required=True)
    texts = {
        "status": "the candidate and how its verdicts compare with production's",
        "promote": "swap the candidate into production (only when the golden samples pass on it)",
        "rollback": "put the bundle from before the promotion back",
    }
    for name, text in texts.items():
        command = sub.add_parser(name, help=text)
        where = command.add_mutually_exclusive_group()
        where.add_argument("--url", help=f"the station's health port (default {DEFAULT_URL})")
        where.add_argument("--config", type=Path, help="the station TOML: its [sinks.http] host and port")
        if name != "status":
            command.add_argument("--who", default=getpass.getuser(), help="who asks (the audit entry)")
            command.add_argument("--why", default="", help="why (the audit entry)")
        command.add_argument("--json", action="store_true", help="print the station's JSON answer")


NO_SHADOW = (
    "the station runs no shadow candidate",
    'add [shadow] model = "candidate.onnx" to the station config and restart it ([sinks.http] control = true)',
)


def _call(url: str, path: str, body: dict[str, str] | None = None) -> tuple[int, dict]:
    return call(url, path, body, missing=NO_SHADOW)


def run(args: argparse.Namespace) -> int:
    url = station_url(args)
    if args.command == "status":
        _, state = _call(url, "/shadow")
        if args.json:
            print(json.dumps(state, indent=1))
            return 0
        running = "promoted (runs in production)" if state["promoted"] else state["model_fingerprint"][:16]
        print(f"candidate {state['candidate']}: {running}")
        print(
            f"  compared {state['compared']}: agree {state['agree']}, disagree {state['disagreements']}, "
            f"skipped {state['skipped']} (busy), errors {state['errors']}"
        )
        for pair, count in sorted(state["disagree"].items()):
            print(f"  production->candidate {pair:<14} {count}")
        print(
            f"  disagreements stored in {state['folder']} ({state['stored']}): inspector compare "
            f"{state['folder']}/production {state['folder']}/candidate"
        )
        if state["rollback_to"]:
            print(f"  rollback would restore {state['rollback_to'][:16]}")
        return 0
    status, answer = _call(url, f"/shadow/{args.command}", {"who": args.who, "why": args.why})
    if args.json:
        print(json.dumps(answer, indent=1))
    if status == 200:
        if not args.json:
            print(f"{answer['text']}; production model {answer['model'][:16]}")
        return 0
    print(
        f"refused: {answer.get('text') or answer.get('error')}; production model "
        f"{str(answer.get('model', '?'))[:16]} keeps running",
        file=sys.stderr,
    )
    return 1
