"""`inspector train --add-reviewed QUEUE`: a GUI review queue's corrections join the data in memory."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes import record

from inspector.cli import main
from inspector.data.dataset import load_dataset
from inspector.live.record import FrameRecord
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue
from inspector.synthetic import make_part, write_dataset

torch = pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")

SMALL = ["--image-size", "64", "--method", "padim", "--no-progress"]


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", size=(64, 64), n_train=4, n_val=2, n_test=2, n_defect=2, seed=1)


def _part(frame_id: int, defect: str | None) -> FrameRecord:
    """A record as the station saw it, its image a synthetic part (good or with `defect`)."""
    made = record(2.0 if defect is None else 0.5, frame_id=frame_id, at=1_700_000_000.0 + frame_id)
    image = make_part(np.random.default_rng(100 + frame_id), size=(64, 64), defect=defect).image
    return replace(made, image=image)


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    """A review queue as the GUI writes it: three false rejects and one escape."""
    review = ReviewQueue(tmp_path / "review")
    for i in range(3):
        review.add(_part(i, None), FALSE_REJECT)
    review.add(_part(10, "scratch"), ESCAPE, label="scratch")
    return review.root


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_reviewed_parts_join_train_good_and_val_defects(small_data: Path, queue: Path, tmp_path: Path) -> None:
    before = load_dataset(small_data, seed=0)
    files = _files(small_data)
    run = tmp_path / "run"
    code = main(["train", "--data", str(small_data), "--out", str(run), "--add-reviewed", str(queue), *SMALL])
    assert code == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["counts"]["train_good"] == len(before.select(split="train", good=True)) + 3
    assert summary["counts"]["val"] == len(before.select(split="val")) + 1
    assert summary["counts"]["test"] == len(before.select(split="test"))
    reviewed = summary["reviewed"]
    assert reviewed["queue"] == str(queue.resolve())
    assert (reviewed["train_good"], reviewed["val_defects"]) == (3, 1)
    assert sorted((r["label"], r["split"]) for r in reviewed["images"]) == [("good", "train")] * 3 + [
        ("scratch", "val")
    ]
    assert all((queue / r["image"]).is_file() for r in reviewed["images"])
    assert summary["data_fingerprint"] != before.fingerprint()  # the fingerprint covers what was trained on
    assert _files(small_data) == files  # nothing copied into the dataset folder


def _no_csv(queue: Path) -> str:
    (queue / "review.csv").unlink()
    return "no review.csv"


def _missing_column(queue: Path) -> str:
    table = queue / "review.csv"
    rows = list(csv.DictReader(table.open(newline="")))
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "kind"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "kind"} for r in rows)
    return "missing column(s) kind"


def _missing_image(queue: Path) -> str:
    sorted((queue / "images").glob("*.png"))[0].unlink()
    return "cannot be read"


def _corrupt_image(queue: Path) -> str:
    sorted((queue / "images").glob("*.png"))[0].write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return "unreadable image"


def _empty(queue: Path) -> str:
    (queue / "review.csv").write_text(",".join(["id", "kind", "label", "image"]) + "\n")
    return "the review queue is empty"


@pytest.mark.parametrize("breaker", [_no_csv, _missing_column, _missing_image, _corrupt_image, _empty])
def test_a_bad_queue_is_one_message(small_data: Path, queue: Path, tmp_path: Path, capsys, breaker) -> None:
    expected = breaker(queue)
    code = main(["train", "--data", str(small_data), "--out", str(tmp_path / "run"), "--add-reviewed", str(queue)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "fix:" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_missing_queue_and_classify_are_refused(small_data: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    assert main(["train", "--data", str(small_data), "--out", str(tmp_path / "r"), "--add-reviewed", str(missing)]) == 2
    assert "no such review folder" in capsys.readouterr().err
    args = ["train", "--task", "classify", "--data", str(small_data), "--out", str(tmp_path / "c")]
    assert main([*args, "--add-reviewed", str(tmp_path)]) == 2
    assert "--task classify does not take it" in capsys.readouterr().err
