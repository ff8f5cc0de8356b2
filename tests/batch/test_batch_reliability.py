"""Issue 11 items 14-18, 22 (batch): hostile inputs and options give rows or a message, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bundle_edit import nan_bundle
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo.onnx"


def batch(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "batch", *map(str, args), "--no-progress"],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )


def images(folder: Path, n: int, value: int | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        pixels = (
            rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            if value is None
            else np.full((32, 32, 3), value, np.uint8) + rng.integers(0, 3, (32, 32, 3), dtype=np.uint8)
        )
        paths.append(folder / f"{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_a_symlink_loop_is_an_error_row(tmp_path: Path) -> None:
    images(tmp_path / "in", 2)
    os.symlink("loop.png", tmp_path / "in" / "loop.png")  # points at itself
    proc = batch(tmp_path / "in", "--model", DEMO, "--out", tmp_path / "out")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode()
    got = {Path(r["path"]).name: r for r in rows(tmp_path / "out")}
    assert set(got) == {"0.png", "1.png", "loop.png"} and "symbolic links" in got["loop.png"]["error"]


def test_a_non_utf8_name_keeps_csv_and_jsonl_in_step_and_resumes(tmp_path: Path) -> None:
    (folder := tmp_path / "in").mkdir()
    images(folder, 2)
    os.rename(folder / "1.png", os.fsencode(folder) + b"/bad\xff.png")
    out = tmp_path / "out"
    first = batch(folder, "--model", DEMO, "--out", out)
    assert first.returncode == 0 and b"Traceback" not in first.stderr, first.stderr.decode()
    assert len(rows(out)) == 2 and len((out / "results.csv").read_text(encoding="utf-8").splitlines()) == 3
    assert os.fsencode(folder) + b"/bad\xff.png" in {os.fsencode(r["path"]) for r in rows(out)}  # exact in JSONL
    again = batch(folder, "--model", DEMO, "--out", out, "--resume")
    assert again.returncode == 0 and b"Traceback" not in again.stderr and len(rows(out)) == 2


def test_a_nan_score_is_an_error_row_and_the_rest_go_on(tmp_path: Path) -> None:
    model = nan_bundle(tmp_path / "nan.onnx")
    images(tmp_path / "in", 4, value=230)  # bright: finite scores
    dark = images(tmp_path / "dark", 1, value=10)[0]  # dark: the model says NaN
    os.replace(dark, tmp_path / "in" / "dark.png")
    proc = batch(tmp_path / "in", "--model", model, "--out", tmp_path / "out", "--batch-size", "8")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode()
    got = {Path(r["path"]).name: r for r in rows(tmp_path / "out")}
    assert len(got) == 5 and "finite" in got["dark.png"]["error"]
    assert all(got[f"{i}.png"]["verdict"] in ("OK", "NG") for i in range(4))


@pytest.mark.parametrize("where", ["same", "inside"])
def test_out_that_is_or_contains_an_input_is_refused(tmp_path: Path, where: str) -> None:
    images(tmp_path / "in", 2)
    target = tmp_path / "in" if where == "same" else tmp_path
    proc = batch(tmp_path / "in", "--model", DEMO, "--out", target)
    assert proc.returncode == 2 and b"is, or contains, the input" in proc.stderr and b"fix:" in proc.stderr
    assert not (target / "results.csv").exists()


def test_overwrite_deletes_only_what_the_run_wrote(tmp_path: Path) -> None:
    images(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert batch(tmp_path / "in", "--model", DEMO, "--out", out, "--save-heatmaps", "all").returncode == 0
    written = sorted((out / "heatmaps").iterdir())
    assert len(written) == 2
    mine = out / "heatmaps" / "my-notes.txt"
    mine.write_text("the engineer's own file")
    assert (
        batch(tmp_path / "in", "--model", DEMO, "--out", out, "--overwrite", "--save-heatmaps", "none").returncode == 0
    )
    assert mine.read_text() == "the engineer's own file" and not any(p.exists() for p in written)


@pytest.mark.parametrize("value", ["nan", "inf", "-5"])
def test_a_threshold_that_is_not_finite_or_negative_is_refused(tmp_path: Path, value: str) -> None:
    images(tmp_path / "in", 1)
    proc = batch(tmp_path / "in", "--model", DEMO, "--out", tmp_path / "out", f"--threshold={value}")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr and b"--threshold" in proc.stderr, proc.stderr


def test_a_threshold_far_from_calibration_is_warned(tmp_path: Path) -> None:
    images(tmp_path / "in", 1)
    proc = batch(tmp_path / "in", "--model", DEMO, "--out", tmp_path / "out", "--threshold", "0.42")
    assert proc.returncode == 0 and b"warning: --threshold" in proc.stderr and b"far below" in proc.stderr


def test_whole_files_are_written_through_one_durable_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.atomic as atomic
    from inspector.batch.store import ResultsStore

    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        atomic.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd)
    )
    store = ResultsStore(tmp_path / "out", {"model_fingerprint": "f", "threshold": 1.0})
    store.close()
    names = {Path(p).name for p in synced}
    assert {".run.json.tmp", ".results.csv.tmp", ".results.jsonl.tmp", "out"} <= names, names
