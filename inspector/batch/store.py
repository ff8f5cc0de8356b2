"""The owner of the batch results format: results.jsonl and results.csv (their columns, writer and the one
reader), run.json, and the confinement of everything `inspector batch` writes to OUT.

Rows are appended to both files and fsynced per micro-batch, deduplicated on --resume. Whole files go
through inspector.atomic (fsynced); a heatmap is on disk before its row. Paths that are not UTF-8 stay
exact in results.jsonl (JSON escapes) and are shown with backslash escapes in results.csv, so both files
always hold the same rows. --overwrite deletes only what a run wrote."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

from inspector.atomic import atomic_write
from inspector.errors import InspectorError

RESULTS_JSONL, RESULTS_CSV = "results.jsonl", "results.csv"
"""results.jsonl is the source of truth (every key of a row, e.g. heatmap, probs); results.csv holds FIELDS."""
FIELDS = [
    "path",
    "sha256",
    "label",
    "score",
    "verdict",
    "reason",
    "predicted_class",
    "defect_type",
    "latency_ms",
    "model",
    "error",
]  # defect_type: the typer's name for an NG part (--typer), empty otherwise
OWNED = (RESULTS_CSV, RESULTS_JSONL, "metrics.json", "report.html", "run.json", "summary.json")
HEATMAPS = "heatmaps"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def inside(out: Path, *parts: str) -> Path:
    """OUT/parts, refused if it would resolve outside OUT (../, absolute parts, symlinks)."""
    root = out.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise InspectorError(
            f"refusing to write {target}: outside the output folder {root}",
            "this is a bug or a symlink inside OUT pointing elsewhere; remove the link",
        )
    return target


def safe_name(key: str, suffix: str = ".png") -> str:
    """A file name for an input that can't escape a folder and can't collide (stem + hash of the full path)."""
    stem = _UNSAFE.sub("_", Path(key).stem).strip("._")[:80] or "image"
    return f"{stem}_{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}{suffix}"


def read_jsonl(path: Path) -> list[dict]:
    """The complete rows of a results.jsonl; a line cut by a crash (bad JSON) or that is not a row is dropped."""
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "path" in row:
            rows.append(row)
    return rows


def read_rows(out: Path) -> list[dict]:
    """The rows of a batch output folder: results.jsonl, else results.csv (its values as text, None where empty)."""
    jsonl, table = out / RESULTS_JSONL, out / RESULTS_CSV
    if jsonl.is_file():
        return read_jsonl(jsonl)
    if table.is_file():
        with table.open(newline="", encoding="utf-8") as handle:
            return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(handle)]
    raise InspectorError(
        f"{out} holds no {RESULTS_JSONL} or {RESULTS_CSV}", "pass the --out folder of an `inspector batch` run"
    )


def csv_row(row: dict) -> dict:
    """A results row as CSV text (score to 6 decimals, latency to 0.01 ms, empty for None)."""
    out = {name: row.get(name) for name in FIELDS}
    if isinstance(out["score"], float):
        out["score"] = f"{out['score']:.6f}"
    if isinstance(out["latency_ms"], float):
        out["latency_ms"] = f"{out['latency_ms']:.2f}"
    return {k: "" if v is None else v for k, v in out.items()}


CSV_ERRORS = "backslashreplace"  # a non-UTF-8 file name shows as \udcff in the CSV (exact in the JSONL)
FSYNC_INTERVAL_S = 1.0
"""Rows are flushed to the OS every micro-batch (a kill -9 loses none) and fsynced at most this often
(a power cut loses at most this much; --resume redoes it)."""


class ResultsStore:
    """results.jsonl (source of truth) and results.csv, appended together, flushed per call to `append`."""

    def __init__(self, out: Path, run_info: dict, *, resume: bool = False, overwrite: bool = False) -> None:
        self.out = out
        try:
            out.mkdir(parents=True, exist_ok=True)
            inside(out, HEATMAPS).mkdir(exist_ok=True)
        except OSError as exc:
            raise InspectorError(
                f"cannot create the output folder {out} ({exc.strerror})", "pick a writable --out"
            ) from exc
        self.jsonl, self.csv = inside(out, RESULTS_JSONL), inside(out, RESULTS_CSV)
        existing = self.jsonl.is_file() or self.csv.is_file()
        self.rows: list[dict] = []
        if existing and resume:
            self._check_same_run(run_info)
            self.rows = self._dedupe(read_jsonl(self.jsonl) if self.jsonl.is_file() else [])
        elif existing and not overwrite:
            raise InspectorError(
                f"{out} already holds results of a batch run",
                "pass --resume to continue it, --overwrite to replace it, or another --out",
            )
        elif existing:
            self._remove_previous_run()
        self.resumed = len(self.rows)
        self.done = {row["path"] for row in self.rows}
        self._rewrite()
        atomic_write(inside(out, "run.json"), json.dumps(run_info, indent=2, sort_keys=True).encode())
        # Held open for the whole run (a row is appended per result); close() closes both.
        self._jh = open(self.jsonl, "a", encoding="utf-8")  # noqa: SIM115
        self._ch = open(self.csv, "a", newline="", encoding="utf-8", errors=CSV_ERRORS)  # noqa: SIM115
        self._writer = csv.DictWriter(self._ch, fieldnames=FIELDS)
        self._synced = time.monotonic()

    def _remove_previous_run(self) -> None:
        """--overwrite: delete the previous run's files (its own results and the heatmaps its rows name), nothing
        else."""
        previous = read_jsonl(self.jsonl) if self.jsonl.is_file() else []
        for row in previous:
            heatmap = row.get("heatmap")
            if isinstance(heatmap, str) and heatmap.startswith(f"{HEATMAPS}/"):
                inside(self.out, *heatmap.split("/")).unlink(missing_ok=True)
        for name in OWNED:
            inside(self.out, name).unlink(missing_ok=True)

    def _check_same_run(self, run_info: dict) -> None:
        path = inside(self.out, "run.json")
        if not path.is_file():
            return
        before = json.loads(path.read_text())
        for key in ("model_fingerprint", "threshold"):
            if before.get(key) != run_info.get(key):
                raise InspectorError(
                    f"cannot resume {self.out}: it was run with {key} {before.get(key)!r}, now {run_info.get(key)!r}",
                    "resume with the same --model and --threshold, or write to a new --out",
                )

    @staticmethod
    def _dedupe(rows: list[dict]) -> list[dict]:
        seen: dict[str, dict] = {}
        for row in rows:
            seen.setdefault(row["path"], row)
        return list(seen.values())

    def _rewrite(self) -> None:
        """Make both files hold exactly the kept rows (after a crash the CSV may lag the JSONL)."""
        lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in self.rows)
        atomic_write(self.jsonl, lines.encode("utf-8"))
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(csv_row(row) for row in self.rows)
        atomic_write(self.csv, text.getvalue().encode("utf-8", CSV_ERRORS))

    def append(self, rows: list[dict]) -> None:
        """Write rows to both files and flush them to the OS: a written row survives kill -9 and is never redone."""
        rows = [row for row in rows if row["path"] not in self.done]
        if not rows:
            return
        self._jh.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
        self._writer.writerows(csv_row(row) for row in rows)
        self._jh.flush()
        self._ch.flush()
        if time.monotonic() - self._synced >= FSYNC_INTERVAL_S:
            self._sync()
        self.rows += rows
        self.done.update(row["path"] for row in rows)

    def _sync(self) -> None:
        for handle in (self._jh, self._ch):
            os.fsync(handle.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        self._jh.flush()
        self._ch.flush()
        self._sync()
        self._jh.close()
        self._ch.close()
