"""Everything `inspector batch` writes, confined to OUT: results.csv/.jsonl (appended and fsynced per
micro-batch, deduplicated on --resume), run.json, and heatmap overlays.

Whole files go through inspector.atomic (fsynced); a heatmap is on disk before its row. Paths that
are not UTF-8 stay exact in results.jsonl (JSON escapes) and are shown with backslash escapes in
results.csv, so both files always hold the same rows. --overwrite deletes only what a run wrote."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np

from inspector.atomic import atomic_write
from inspector.errors import InspectorError

FIELDS = ["path", "sha256", "label", "score", "verdict", "predicted_class", "latency_ms", "model", "error"]
OWNED = ("results.csv", "results.jsonl", "metrics.json", "report.html", "run.json", "summary.json")
HEATMAPS = "heatmaps"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def inside(out: Path, *parts: str) -> Path:
    """OUT/parts, refused if it would resolve outside OUT (../, absolute parts, symlinks)."""
    root = out.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise InspectorError(f"refusing to write {target}: outside the output folder {root}",
                             "this is a bug or a symlink inside OUT pointing elsewhere; remove the link")
    return target


def safe_name(key: str, suffix: str = ".png") -> str:
    """A file name for an input that can't escape a folder and can't collide (stem + hash of the full path)."""
    stem = _UNSAFE.sub("_", Path(key).stem).strip("._")[:80] or "image"
    return f"{stem}_{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}{suffix}"


OVERLAY_FLOOR, OVERLAY_FULL, OVERLAY_ALPHA = 0.75, 1.25, 0.6
"""The overlay colours a pixel only where its map exceeds OVERLAY_FLOOR x threshold, reaching full
colour (red, OVERLAY_ALPHA opaque) at OVERLAY_FULL x threshold: the part stays visible (as in the GUI)."""


def overlay(image: np.ndarray, amap: np.ndarray, threshold: float) -> np.ndarray:
    """RGB image + anomaly map -> BGR overlay: the image unchanged where the map is low, yellow to red
    with opacity rising with the map from OVERLAY_FLOOR x threshold up, the NG region outlined in white."""
    amap = amap.astype(np.float32)
    if amap.shape != image.shape[:2]:
        amap = cv2.resize(amap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    if threshold > 0:
        ratio = amap / threshold
    else:  # no usable threshold: the map's own range, its midpoint in the threshold's place
        lo, hi = float(amap.min()), float(amap.max())
        ratio = 2.0 * (amap - lo) / (hi - lo) if hi > lo else np.zeros_like(amap)
    level = np.clip((ratio - OVERLAY_FLOOR) / (OVERLAY_FULL - OVERLAY_FLOOR), 0.0, 1.0)
    heat = cv2.applyColorMap((160 + level * 65).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    alpha = (OVERLAY_ALPHA * level)[..., None]
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    blended = np.where(alpha > 0, np.rint(bgr * (1.0 - alpha) + heat * alpha), bgr).astype(np.uint8)
    contours, _ = cv2.findContours((amap > threshold).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(blended, contours, -1, (255, 255, 255), 1)
    return blended


def save_heatmap(out: Path, key: str, image: np.ndarray, amap: np.ndarray, threshold: float) -> str:
    """Write OUT/heatmaps/<safe name>.png; returns its path relative to OUT."""
    ok, png = cv2.imencode(".png", overlay(image, amap, threshold))
    if not ok:
        raise InspectorError(f"cannot encode the heatmap of {key}", "report this as a bug")
    name = safe_name(key)
    atomic_write(inside(out, HEATMAPS, name), png.tobytes())
    return f"{HEATMAPS}/{name}"


def _read_jsonl(path: Path) -> list[dict]:
    """Complete, valid rows of a results.jsonl; a line cut by a crash (no newline or bad JSON) is dropped."""
    data = path.read_bytes()
    rows = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "path" in row:
            rows.append(row)
    return rows


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
            raise InspectorError(f"cannot create the output folder {out} ({exc.strerror})", "pick a writable --out") from exc
        self.jsonl, self.csv = inside(out, "results.jsonl"), inside(out, "results.csv")
        existing = self.jsonl.is_file() or self.csv.is_file()
        self.rows: list[dict] = []
        if existing and resume:
            self._check_same_run(run_info)
            self.rows = self._dedupe(_read_jsonl(self.jsonl) if self.jsonl.is_file() else [])
        elif existing and not overwrite:
            raise InspectorError(f"{out} already holds results of a batch run",
                                 "pass --resume to continue it, --overwrite to replace it, or another --out")
        elif existing:
            self._remove_previous_run()
        self.resumed = len(self.rows)
        self.done = {row["path"] for row in self.rows}
        self._rewrite()
        atomic_write(inside(out, "run.json"), json.dumps(run_info, indent=2, sort_keys=True).encode())
        self._jh = open(self.jsonl, "a", encoding="utf-8")
        self._ch = open(self.csv, "a", newline="", encoding="utf-8", errors=CSV_ERRORS)
        self._writer = csv.DictWriter(self._ch, fieldnames=FIELDS)
        self._synced = time.monotonic()

    def _remove_previous_run(self) -> None:
        """--overwrite: delete the previous run's files (its own results and the heatmaps its rows name), nothing else."""
        previous = _read_jsonl(self.jsonl) if self.jsonl.is_file() else []
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
                    "resume with the same --model and --threshold, or write to a new --out")

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
