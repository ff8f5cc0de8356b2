"""`inspector batch --resume` after kill -9: every input appears exactly once, nothing is redone."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from inspector.cli import main

REPO = Path(__file__).resolve().parents[2]
N_IMAGES = 240


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def test_resume_after_kill_9_gives_every_input_exactly_once(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    source = sorted((synthetic_data / "images").rglob("*.png"))
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(N_IMAGES):
        shutil.copy(source[i % len(source)], folder / f"part_{i:04d}.png")
    out = tmp_path / "out"
    args = [
        str(folder),
        "--model",
        str(bundle),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--workers",
        "1",
        "--threads",
        "1",
        "--save-heatmaps",
        "all",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "batch", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while _lines(out / "results.jsonl") < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise N_IMAGES"
    before = _lines(out / "results.jsonl")
    assert 0 < before < N_IMAGES

    assert main(["batch", *args, "--resume"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == N_IMAGES
    assert sorted(Path(p).name for p in paths) == sorted(p.name for p in folder.iterdir())
    jsonl = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["path"] for r in jsonl) == sorted(paths)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_rows"] >= before - 1  # at most a row cut mid-write is redone
    assert summary["resumed_rows"] + summary["inspected_now"] == N_IMAGES
    assert len(list((out / "heatmaps").iterdir())) == N_IMAGES


def test_resume_drops_a_line_cut_mid_write_and_redoes_only_that_item(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    out = tmp_path / "out"
    args = [str(synthetic_data), "--split", "test", "--model", str(bundle), "--out", str(out), "--no-progress"]
    assert main(["batch", *args]) == 0
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:3]) + lines[3][:25])  # killed inside row 4; CSV lags
    with (out / "results.csv").open("r+") as handle:
        handle.truncate(len("".join(handle.readlines()[:2])))
    assert main(["batch", *args, "--resume"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_rows"] == 3 and summary["inspected_now"] == len(lines) - 3
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == len({r["path"] for r in rows}) == len(lines)
    # a different threshold cannot be resumed into the same results
    assert main(["batch", *args, "--resume", "--threshold", "0.5"]) == 2
