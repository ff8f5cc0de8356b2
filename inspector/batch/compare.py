"""`inspector compare OUT_A OUT_B`: the parts whose verdict differs between two batch runs (old vs new model)."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from inspector.batch.store import read_rows

KEYS = ("path", "sha256")


def _verdict(row: dict | None) -> str:
    if row is None:
        return "missing"
    return row.get("verdict") or "error"


def compare(rows_a: list[dict], rows_b: list[dict], key: str = "path") -> tuple[list[dict], Counter[str]]:
    """Differences (part, verdict and score in A and B) and counts of each transition."""
    a = {r[key]: r for r in rows_a if r.get(key)}
    b = {r[key]: r for r in rows_b if r.get(key)}
    diffs: list[dict] = []
    transitions: Counter[str] = Counter()
    for part in sorted(set(a) | set(b)):
        va, vb = _verdict(a.get(part)), _verdict(b.get(part))
        transitions[f"{va}->{vb}"] += 1
        if va != vb:
            diffs.append(
                {
                    "part": part,
                    "verdict_a": va,
                    "verdict_b": vb,
                    "score_a": (a.get(part) or {}).get("score"),
                    "score_b": (b.get(part) or {}).get("score"),
                    "label": (a.get(part) or b.get(part) or {}).get("label"),
                }
            )
    return diffs, transitions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_a", type=Path, help="output folder of the first (e.g. old model's) batch run")
    parser.add_argument("out_b", type=Path, help="output folder of the second (e.g. new model's) batch run")
    parser.add_argument(
        "--key",
        choices=KEYS,
        default="path",
        help="match parts by path (default) or by file SHA-256 (archives moved between runs)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="also write the differences as CSV")


def _score(value: float | str | None) -> str:
    return "" if value is None or value == "" else f"{float(value):.4f}"


def run(args: argparse.Namespace) -> int:
    diffs, transitions = compare(read_rows(args.out_a), read_rows(args.out_b), args.key)
    total = sum(transitions.values())
    print(f"{total} parts; {len(diffs)} with a different verdict ({args.out_a} -> {args.out_b})")
    for name, count in sorted(transitions.items()):
        print(f"  {name:<16} {count}")
    if diffs:
        print(f"\n{'verdict A':<10} {'verdict B':<10} {'score A':>10} {'score B':>10}  part")
        for d in diffs:
            print(
                f"{d['verdict_a']:<10} {d['verdict_b']:<10} "
                f"{_score(d['score_a']):>10} {_score(d['score_b']):>10}  {d['part']}"
            )
    if args.csv:
        with args.csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["part", "label", "verdict_a", "verdict_b", "score_a", "score_b"]
            )
            writer.writeheader()
            writer.writerows(diffs)
    return 0
