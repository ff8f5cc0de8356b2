"""The audit trail: an append-only, hash-chained JSON Lines log of every change that affects verdicts.

Each line is one entry: `seq`, `time` (UTC, ISO 8601), `who`, `action` (threshold, roi, model, recipe, pin,
config_reload, ...), `target`, `old`, `new`, `why`, `prev` (the previous entry's hash; 64 zeros for the first)
and `hash` = SHA-256 of the entry's canonical JSON without `hash`. Editing, removing or reordering any entry
breaks the chain from there on, and `inspector audit verify` names the first entry that does not check.
Truncating the *end* of the log is not detectable from the file alone: keep a copy of the last hash elsewhere
(`inspector audit show --last 1`, e.g. in the shift report) and compare.

`inspector audit verify|show|export --log PATH`.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import getpass
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from inspector.errors import InspectorError

GENESIS = "0" * 64
FIELDS = ("seq", "time", "who", "action", "target", "old", "new", "why", "prev", "hash")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """The first entry that does not check."""

    line: int
    seq: int | None
    why: str

    def __str__(self) -> str:
        entry = f"entry seq={self.seq}" if self.seq is not None else "an entry"
        return f"line {self.line}: {entry}: {self.why}"


class AuditLog:
    """Appends entries under an exclusive lock (several processes may write) and verifies the chain."""

    def __init__(self, path: str | Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._wall = wall

    def record(
        self, action: str, *, who: str, target: str = "", old: Any = None, new: Any = None, why: str = ""
    ) -> dict[str, Any]:
        """Append one entry (fsync'd) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                last = _last_entry(self.path)
                entry: dict[str, Any] = {
                    "seq": (int(last["seq"]) + 1) if last else 1,
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._wall())),
                    "who": str(who),
                    "action": str(action),
                    "target": str(target),
                    "old": old,
                    "new": new,
                    "why": str(why),
                    "prev": str(last["hash"]) if last else GENESIS,
                }
                entry["hash"] = entry_hash(entry)
                handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry as stored (InspectorError for a line that is not JSON)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise InspectorError(
                        f"{self.path}: line {number} is not an audit entry ({exc})",
                        "run `inspector audit verify` and restore the log from a copy",
                    ) from None

    def verify(self) -> tuple[int, Problem | None]:
        """(entries that check, the first problem or None)."""
        prev, expected_seq, good = GENESIS, 1, 0
        if not self.path.exists():
            return 0, None
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    return good, Problem(number, None, "not valid JSON (edited or cut)")
                seq = entry.get("seq") if isinstance(entry, dict) else None
                if not isinstance(entry, dict) or set(entry) != set(FIELDS):
                    return good, Problem(number, seq, "fields missing or added")
                if entry["hash"] != entry_hash(entry):
                    return good, Problem(number, seq, "its content does not match its hash (the entry was edited)")
                if entry["prev"] != prev:
                    return good, Problem(
                        number,
                        seq,
                        "it does not follow the entry before it (an entry was removed, inserted or reordered)",
                    )
                if seq != expected_seq:
                    return good, Problem(number, seq, f"sequence number {seq}, expected {expected_seq}")
                prev, expected_seq, good = entry["hash"], expected_seq + 1, good + 1
        return good, None


def operator_name() -> str:
    """Who a front end acts for in the audit trail (the OS user; `unknown` when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_safely(
    path: str | Path, action: str, *, who: str, target: str = "", old: Any = None, new: Any = None, why: str = ""
) -> dict[str, Any] | None:
    """`AuditLog(path).record(...)` for a running station: a failing write is logged, never raised (None)."""
    try:
        return AuditLog(path).record(action, who=who, target=target, old=old, new=new, why=why)
    except (OSError, InspectorError) as exc:
        logging.getLogger(__name__).error(
            "audit entry not written", extra={"fields": {"action": action, "error": str(exc)}}
        )
        return None


def _last_entry(path: Path) -> dict[str, Any] | None:
    """The last entry of the file (read from its end)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        block = b""
        offset = size
        while offset > 0:
            step = min(4096, offset)
            offset -= step
            handle.seek(offset)
            block = handle.read(step) + block
            lines = [line for line in block.splitlines() if line.strip()]
            if len(lines) >= 2 or (lines and offset == 0):
                try:
                    return json.loads(lines[-1])
                except ValueError as exc:
                    raise InspectorError(
                        f"{path}: the last audit entry is damaged ({exc})",
                        "run `inspector audit verify`; restore the log before recording more",
                    ) from None
    return None


# ---------------------------------------------------------------------- the `inspector audit` verb
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("verify", "check the hash chain; exit 1 naming the first bad entry"),
        ("show", "print entries"),
        ("export", "write the entries as CSV or JSON"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--log", required=True, type=Path, help="the audit log (e.g. <data_dir>/audit.jsonl)")
        if name == "show":
            command.add_argument("--last", type=int, default=0, help="only the last N entries")
        if name == "export":
            command.add_argument("--format", choices=("csv", "json"), default="csv")
            command.add_argument("--out", type=Path, help="file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    log = AuditLog(args.log)
    if not args.log.is_file():
        raise InspectorError(f"{args.log}: no audit log there", "give --log the station's audit.jsonl")
    if args.command == "verify":
        good, problem = log.verify()
        if problem is not None:
            print(f"{args.log}: TAMPERED: {problem} ({good} entries before it check)", file=sys.stderr)
            return 1
        print(f"{args.log}: OK, {good} entries, chain intact")
        return 0
    entries = list(log.entries())
    if args.command == "show":
        for entry in entries[-args.last :] if args.last else entries:
            print(
                f"{entry['seq']:>5} {entry['time']} {entry['who']:<10} {entry['action']:<14} {entry['target']} "
                f"{json.dumps(entry['old'])} -> {json.dumps(entry['new'])}  why: {entry['why']}  "
                f"[{entry['hash'][:12]}]"
            )
        return 0
    out = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115 (closed below)
    try:
        export_entries(entries, out, args.format)
    finally:
        if args.out:
            out.close()
    return 0


def export_entries(entries: list[dict[str, Any]], out: IO[str], fmt: str = "csv") -> None:
    """Write `entries` to `out` as CSV (old and new as JSON text) or as one JSON array (`fmt` "json")."""
    if fmt == "json":
        json.dump(entries, out, indent=1, default=str)
        out.write("\n")
    else:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for entry in entries:
            writer.writerow({k: json.dumps(v) if k in ("old", "new") else v for k, v in entry.items()})
