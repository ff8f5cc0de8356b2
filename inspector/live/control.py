"""`inspector recipe list|select` and `inspector lot show|set`: talk to a running station over its health port.

The station's `[sinks.http]` (with `control = true`, the default) serves GET /recipes, POST /recipe and
POST /lot; the address comes from `--url` or from the station config's `[sinks.http]` (`--config`). A
refused recipe (unknown, bundle failing verification, not fitting the station) exits 1 with its error code;
the running recipe keeps going. Every change is an audit entry naming `--who` (default: the OS user).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError

DEFAULT_URL = "http://127.0.0.1:9108"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verb = parser.prog.split()[-1]  # "recipe" or "lot"
    sub = parser.add_subparsers(dest="command", required=True)
    commands = (
        {"list": "the recipes and which runs", "select": "switch the running station to a recipe"}
        if verb == "recipe"
        else {"show": "the lot being inspected", "set": 'start a lot ("" ends it)'}
    )
    for name, text in commands.items():
        command = sub.add_parser(name, help=text)
        where = command.add_mutually_exclusive_group()
        where.add_argument("--url", help=f"the station's health port (default {DEFAULT_URL})")
        where.add_argument("--config", type=Path, help="the station TOML: its [sinks.http] host and port")
        if name in ("select", "set"):
            command.add_argument("value", metavar="RECIPE" if verb == "recipe" else "LOT")
            command.add_argument("--who", default=getpass.getuser(), help="who asks (the audit entry)")
            command.add_argument("--why", default="", help="why (the audit entry)")
        command.add_argument("--json", action="store_true", help="print the station's JSON answer")
    parser.set_defaults(verb=verb)


def station_url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url.rstrip("/")
    if args.config is None:
        return DEFAULT_URL
    from inspector.live.config import load_config

    config = load_config(args.config, check_model=False)
    http = config.sinks.get("http")
    if http is None:
        raise InspectorError(
            f"{args.config}: no [sinks.http] table", "add [sinks.http] (the control port) or give --url"
        )
    host = "127.0.0.1" if http.host in ("0.0.0.0", "::", "") else http.host  # type: ignore[attr-defined]
    return f"http://{host}:{http.port}"  # type: ignore[attr-defined]


NO_CONTROL = (
    "the station serves no recipe control",
    "set [sinks.http] control = true in the station config (and restart it)",
)


def call(
    url: str, path: str, body: dict[str, Any] | None = None, *, missing: tuple[str, str] = NO_CONTROL
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of GET (body None) or POST `path`; a 404 is `missing` (problem, fix)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        if exc.code == 404:
            raise InspectorError(f"{url}{path}: {missing[0]}", missing[1]) from None
        try:
            return exc.code, json.loads(text)
        except ValueError:
            raise InspectorError(f"{url}{path}: HTTP {exc.code}", text.decode(errors="replace")[:200]) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InspectorError(
            f"{url}: no station answers ({getattr(exc, 'reason', exc)})",
            "start the daemon, or give the right --url / --config",
        ) from None


def run(args: argparse.Namespace) -> int:
    url = station_url(args)
    if args.command in ("list", "show"):
        _, state = call(url, "/recipes")
        if args.json:
            print(json.dumps(state, indent=1))
        elif args.command == "show":
            print(f"lot: {state['lot'] or '(none)'}  recipe: {state['recipe'] or '(base)'}")
        else:
            for recipe in state["recipes"]:
                mark = "*" if recipe["name"] == state["recipe"] else " "
                print(f"{mark} {recipe['name']:<20} {recipe['model']}  {recipe['description']}")
            if not state["recipes"]:
                print("no recipes configured ([recipes.<name>] in the station config)")
            print(f"running: {state['recipe'] or '(base: [model])'}, lot {state['lot'] or '(none)'}")
        return 0
    kind = "recipe" if args.verb == "recipe" else "lot"
    status, answer = call(url, f"/{kind}", {kind: args.value, "who": args.who, "why": args.why})
    if args.json:
        print(json.dumps(answer, indent=1))
    if status == 200:
        if not args.json:
            print(f"{kind} {args.value!r} running (change {answer['change_id']}, model {answer['model'][:16]})")
        return 0
    print(
        f"error {answer.get('error_code', '?')}: {answer.get('error_text') or answer.get('error')}; "
        f"still running: recipe {answer.get('recipe', '?')!r}, lot {answer.get('lot', '?')!r}",
        file=sys.stderr,
    )
    return 1
