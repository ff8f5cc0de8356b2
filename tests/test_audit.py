"""The audit trail: entries chained by SHA-256; `inspector audit verify` (the real CLI) catches an edited,
removed or reordered entry and names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from inspector.audit import GENESIS, AuditLog


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "audit", *args], capture_output=True, text=True, timeout=60, check=False
    )


def filled(path: Path) -> AuditLog:
    log = AuditLog(path, wall=lambda: 1_790_000_000.0)
    log.record("threshold", who="engineer:anna", target="model", old=0.31, new=0.35, why="too many false NG")
    log.record("roi", who="engineer:anna", target="top", old=[0, 0, 640, 480], new=[10, 10, 600, 400], why="fixture")
    log.record("config_reload", who="daemon", target="model", old="ab12", new="cd34", why="SIGHUP")
    return log


def test_entries_are_chained_and_verify(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS and entries[1]["prev"] == entries[0]["hash"]
    assert entries[0]["time"] == "2026-09-21T14:13:20Z" and entries[0]["old"] == 0.31
    assert log.verify() == (3, None)
    done = cli("verify", "--log", str(log.path))
    assert done.returncode == 0 and "3 entries, chain intact" in done.stdout


def test_verify_catches_an_edited_entry_and_names_it(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    lines = log.path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["new"] = [0, 0, 640, 480]  # someone hides the ROI change
    lines[1] = json.dumps(entry, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n")
    done = cli("verify", "--log", str(log.path))
    assert done.returncode == 1
    assert "line 2: entry seq=2" in done.stderr and "edited" in done.stderr


def test_verify_catches_a_removed_entry_even_with_its_hash_recomputed(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    _, problem = log.verify()
    assert problem is not None and problem.seq == 3 and "removed" in problem.why


def test_show_and_export(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    shown = cli("show", "--log", str(log.path), "--last", "1")
    assert shown.returncode == 0 and "config_reload" in shown.stdout and "threshold" not in shown.stdout
    out = tmp_path / "audit.csv"
    assert cli("export", "--log", str(log.path), "--out", str(out)).returncode == 0
    assert out.read_text().splitlines()[0].startswith("seq,time,who,action")
    missing = cli("verify", "--log", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and "no audit log there" in missing.stderr
