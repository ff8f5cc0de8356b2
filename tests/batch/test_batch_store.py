"""The one reader of batch results (inspector.batch.store.read_rows): what resume and compare both see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.batch.store import FIELDS, ResultsStore, read_jsonl, read_rows
from inspector.cli import main
from inspector.errors import InspectorError


def row(name: str, score: float | None, verdict: str | None, error: str = "") -> dict:
    return {
        "path": f"/parts/{name}.png",
        "sha256": name * 4,
        "label": None,
        "score": score,
        "verdict": verdict,
        "predicted_class": None,
        "latency_ms": 1.5,
        "model": "f",
        "error": error,
        "heatmap": None,
    }


def test_jsonl_keeps_complete_rows_and_drops_a_cut_line_and_non_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    lines = [
        json.dumps(row("a", 0.1, "OK")),
        json.dumps({"note": "not a row"}),
        "[1, 2]",
        json.dumps(row("b", 0.9, "NG"))[:30],
        json.dumps(row("c", 0.2, "OK")),
    ]
    path.write_text("\n".join(lines))  # the last row complete but without its newline
    assert [r["path"] for r in read_jsonl(path)] == ["/parts/a.png", "/parts/c.png"]


def test_rows_come_from_the_jsonl_else_the_csv(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "out", {"model_fingerprint": "f", "threshold": 0.5})
    written = [row("a", 0.125, "OK"), row("b", None, None, error="cannot be decoded")]
    store.append(written)
    store.close()
    assert read_rows(tmp_path / "out") == written
    (tmp_path / "out" / "results.jsonl").unlink()
    from_csv = read_rows(tmp_path / "out")
    assert [list(r) for r in from_csv] == [FIELDS, FIELDS]
    assert from_csv[0]["score"] == "0.125000" and from_csv[0]["label"] is None
    assert from_csv[1]["verdict"] is None and from_csv[1]["error"] == "cannot be decoded"


def test_a_folder_without_results_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InspectorError, match=r"holds no results\.jsonl or results\.csv"):
        read_rows(tmp_path)
    (tmp_path / "a").mkdir()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path)]) == 2
    assert "holds no results.jsonl or results.csv" in capsys.readouterr().err
