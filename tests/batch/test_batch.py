"""`inspector batch` at scale: bad inputs, output confinement, report, inputs of every kind, compare."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.batch.store import inside, safe_name
from inspector.cli import main
from inspector.errors import InspectorError

REPO = Path(__file__).resolve().parents[2]
DROP_READ_CAPS = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]


def rows_of(out: Path) -> dict[str, dict]:
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == len({r["path"] for r in rows}), "a path appears twice"
    return {Path(r["path"]).name: r for r in rows}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int = 20000) -> bytes:
    """A valid 1-bit grayscale PNG of side x side pixels that compresses to a few tens of KB."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _drop_read_caps_works(probe: Path) -> bool:
    if shutil.which("setpriv") is None:
        return False
    return subprocess.run([*DROP_READ_CAPS, "cat", str(probe)], capture_output=True, check=False).returncode != 0


@pytest.fixture(scope="module")
def bad_inputs_run(patchcore_bundle, tmp_path_factory) -> dict:
    """One batch run (a real subprocess) over a folder holding every kind of bad input."""
    _, bundle = patchcore_bundle
    folder = tmp_path_factory.mktemp("bad") / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (0, 0), 2)
    cv2.imwrite(str(folder / "ref8.png"), image)
    cv2.imwrite(str(folder / "deep16.tif"), image.astype(np.uint16) * 257)  # the same picture in 16 bits
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    png = bytearray(cv2.imencode(".png", image)[1].tobytes())
    idat = png.find(b"IDAT")
    png[idat + 4 + struct.unpack(">I", png[idat - 4 : idat])[0]] ^= 0xFF  # corrupt the IDAT CRC
    (folder / "bad_crc.png").write_bytes(bytes(png))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    (folder / "bomb.png").write_bytes(bomb_png())
    os.mkfifo(folder / "fifo.png")
    (folder / "unreadable.png").write_bytes(cv2.imencode(".png", image)[1].tobytes())
    os.chmod(folder / "unreadable.png", 0)
    prefix: list[str] = []
    permission_skip = ""
    if os.geteuid() == 0:
        if _drop_read_caps_works(folder / "unreadable.png"):
            prefix = DROP_READ_CAPS  # root without CAP_DAC_OVERRIDE/READ_SEARCH honours file modes
        else:
            permission_skip = "running as root and setpriv cannot drop CAP_DAC_OVERRIDE here: root reads any file"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    out = folder.parent / "out"
    proc = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "inspector",
            "batch",
            str(folder),
            "--model",
            str(bundle),
            "--out",
            str(out),
            "--save-heatmaps",
            "all",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    return {
        "proc": proc,
        "rows": rows_of(out),
        "out": out,
        "before": before,
        "after": after,
        "permission_skip": permission_skip,
    }


def test_bad_inputs_do_not_stop_the_run_and_exit_1(bad_inputs_run) -> None:
    proc = bad_inputs_run["proc"]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(bad_inputs_run["rows"]) == 9  # every input exactly once
    assert bad_inputs_run["before"] == bad_inputs_run["after"], "inputs must only be read"
    assert (bad_inputs_run["out"] / "report.html").is_file()


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated.jpg", "corrupt"),
        ("bad_crc.png", "corrupt"),
        ("empty.jpg", "empty file"),
        ("text.jpg", "not a readable image"),
        ("bomb.png", "pixels"),
        ("fifo.png", "not a regular file"),
    ],
)
def test_each_bad_input_gets_an_error_row_with_its_reason(bad_inputs_run, name: str, reason: str) -> None:
    row = bad_inputs_run["rows"][name]
    assert row["verdict"] == "" and row["score"] == ""
    assert name in row["error"] and reason in row["error"], row["error"]


def test_a_file_without_read_permission_gets_an_error_row(bad_inputs_run) -> None:
    if bad_inputs_run["permission_skip"]:
        pytest.skip(bad_inputs_run["permission_skip"])
    row = bad_inputs_run["rows"]["unreadable.png"]
    assert row["verdict"] == "" and "no permission to read" in row["error"]


def test_a_16_bit_tiff_is_inspected_like_its_8_bit_original(bad_inputs_run) -> None:
    rows = bad_inputs_run["rows"]
    assert rows["deep16.tif"]["error"] == "" and rows["deep16.tif"]["verdict"] in {"OK", "NG", "UNSURE"}
    assert rows["deep16.tif"]["verdict"] == rows["ref8.png"]["verdict"]  # (noise, not a part: UNSURE for both)
    assert float(rows["deep16.tif"]["score"]) == pytest.approx(float(rows["ref8.png"]["score"]), abs=1e-5)
    assert len(rows["deep16.tif"]["sha256"]) == 64 and rows["deep16.tif"]["model"]


def test_outputs_stay_in_out_with_colliding_names_and_dotted_paths(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    source = sorted((synthetic_data / "images").rglob("*.png"))[:3]
    inputs = tmp_path / "in"
    for sub in ("a", "b", "c/d"):
        (inputs / sub).mkdir(parents=True)
        for i, src in enumerate(source):
            shutil.copy(src, inputs / sub / f"same_{i}.png")
    shutil.copy(source[0], inputs / "x..y.png")
    out = inputs / "out"  # OUT inside an input folder: a rerun must not inspect our own heatmaps
    listing = lambda: sorted(str(p) for p in tmp_path.rglob("*") if out not in p.parents and p != out)  # noqa: E731
    before = listing()
    dotted = str(inputs / "a" / ".." / "b" / "same_0.png")  # the same file as b/same_0.png
    assert (
        main(
            [
                "batch",
                str(inputs),
                dotted,
                "--model",
                str(bundle),
                "--out",
                str(out),
                "--save-heatmaps",
                "all",
                "--no-progress",
            ]
        )
        == 0
    )
    assert listing() == before, "nothing may be written outside OUT"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 10
    heatmaps = sorted((out / "heatmaps").iterdir())
    assert len(heatmaps) == 10, "colliding names must not overwrite each other"
    assert main(["batch", str(inputs), "--model", str(bundle), "--out", str(out), "--resume", "--no-progress"]) == 0
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 10
    assert "/" not in safe_name("../../etc/passwd") and ".." not in safe_name("../../..")
    with pytest.raises(InspectorError):
        inside(out, "..", "escape.txt")


def test_report_summary_histogram_gallery_and_confusion(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path, capsys
) -> None:
    _, bundle = patchcore_bundle
    out = tmp_path / "out"
    assert main(["batch", str(synthetic_data), "--split", "test", "--model", str(bundle), "--out", str(out)]) == 0
    assert "img/s" in capsys.readouterr().err  # the progress bar
    page = (out / "report.html").read_text()
    for part in ("<svg", "threshold", "Confusion matrix", "NG gallery", "data:image/jpeg;base64", "image_auroc"):
        assert part in page, part
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "<script src" not in page
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["verdict"] for r in rows} <= {"OK", "NG"}
    assert all(r["heatmap"] for r in rows if r["verdict"] == "NG")
    assert not any(r["heatmap"] for r in rows if r["verdict"] == "OK")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == len(rows) and summary["images_per_s"] > 0


def test_manifest_glob_and_file_inputs_and_refusal_to_overwrite(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    manifest_out, glob_out = tmp_path / "m", tmp_path / "g"
    assert (
        main(
            [
                "batch",
                str(synthetic_data / "split.csv"),
                "--split",
                "test",
                "--model",
                str(bundle),
                "--out",
                str(manifest_out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert all(r["label"] for r in rows_of(manifest_out).values())
    pattern = str(synthetic_data / "images" / "**" / "*.png")
    one = sorted((synthetic_data / "images").rglob("*.png"))[0]
    assert main(["batch", pattern, str(one), "--model", str(bundle), "--out", str(glob_out), "--no-progress"]) == 0
    assert len(rows_of(glob_out)) == len(list((synthetic_data / "images").rglob("*.png")))
    assert main(["batch", str(one), "--model", str(bundle), "--out", str(glob_out), "--no-progress"]) == 2


def test_compare_lists_parts_whose_verdict_differs(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path, capsys
) -> None:
    from inspector.batch.compare import compare
    from inspector.batch.store import read_rows as load_rows

    _, bundle = patchcore_bundle
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--split", "test", "--model", str(bundle), "--no-progress", "--save-heatmaps", "none"]
    assert main(["batch", str(synthetic_data), "--out", str(a), *common]) == 0
    scores = sorted(r["score"] for r in load_rows(a))
    median = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    assert main(["batch", str(synthetic_data), "--out", str(b), "--threshold", str(median), *common]) == 0
    expected = {r["path"] for r, s in zip(load_rows(a), load_rows(b), strict=True) if r["verdict"] != s["verdict"]}
    assert expected, "the threshold change should flip some verdicts"
    diffs, _ = compare(load_rows(a), load_rows(b))
    assert {d["part"] for d in diffs} == expected
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--csv", str(tmp_path / "diff.csv")]) == 0
    printed = capsys.readouterr().out
    assert f"{len(expected)} with a different verdict" in printed and all(Path(p).name in printed for p in expected)
    assert len(list(csv.DictReader((tmp_path / "diff.csv").open()))) == len(expected)
    by_sha, _ = compare(load_rows(a), load_rows(b), key="sha256")
    assert len(by_sha) <= len(diffs)


def test_sha256_column_is_the_file_hash(patchcore_bundle, synthetic_data: Path, tmp_path: Path) -> None:
    _, bundle = patchcore_bundle
    one = sorted((synthetic_data / "images").rglob("*.png"))[0]
    assert main(["batch", str(one), "--model", str(bundle), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    row = rows_of(tmp_path / "o")[one.name]
    assert row["sha256"] == hashlib.sha256(one.read_bytes()).hexdigest()
    assert float(row["latency_ms"]) > 0
