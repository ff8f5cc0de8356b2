"""`inspector train --add-reviewed QUEUE`: the operator's corrections from a review queue, added in memory.

The queue is the folder the GUI writes (inspector.operator.review: `review.csv` + `images/`). Confirmed-good
false rejects join the good training images; confirmed escapes join the validation defects (method
selection and the F1 threshold see them). Nothing is copied into the dataset folder; the run records what
was added and from where (run.json `reviewed`).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from inspector.data.dataset import GOOD, Dataset, Sample, validate_samples
from inspector.errors import DatasetError, InspectorError
from inspector.operator.review import ESCAPE, FALSE_REJECT

REVIEW_CSV = "review.csv"
NEEDED = ("id", "kind", "label", "image")
FIX = "pass the review folder the GUI writes (it holds review.csv and images/), e.g. ~/.local/share/inspector/review"


def reviewed_samples(queue: Path) -> list[Sample]:
    """The queue's parts as samples: false rejects as good `train`, escapes as their defect type in `val`.

    The newest mark of a part wins; byte-identical images count once. InspectorError (exit 2) names a missing
    folder, an unreadable or incomplete review.csv, an unknown kind, a missing or undecodable image.
    """
    queue = Path(queue)
    table = queue / REVIEW_CSV
    if not queue.is_dir():
        raise InspectorError(f"--add-reviewed {queue}: no such review folder", FIX)
    if not table.is_file():
        raise InspectorError(f"--add-reviewed {queue}: not a review queue (no {REVIEW_CSV})", FIX)
    try:
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InspectorError(f"{table} cannot be read as a CSV ({exc})", "restore the file from the station") from exc
    if missing:
        raise InspectorError(
            f"{table}: missing column(s) {', '.join(missing)}", "restore the file the GUI wrote (do not hand-edit it)"
        )
    newest = {row["id"]: row for row in rows if any((v or "").strip() for v in row.values())}
    samples, seen = [], set()
    for row in newest.values():
        kind, label = (row["kind"] or "").strip(), (row["label"] or "").strip()
        where = f"{table}, part {row['id']}"
        if kind not in (FALSE_REJECT, ESCAPE):
            raise InspectorError(f"{where}: unknown kind {kind!r}", f"use {FALSE_REJECT} or {ESCAPE}")
        if kind == ESCAPE and (not label or label == GOOD):
            raise InspectorError(f"{where}: an escape labelled {label!r}", "label an escape with its defect type")
        path = queue / (row["image"] or "")
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise InspectorError(
                f"{where}: image {path} cannot be read ({exc.strerror or exc})",
                "restore the image or mark the part again in the GUI",
            ) from exc
        if digest in seen:
            continue
        seen.add(digest)
        samples.append(Sample(path, GOOD, "train") if kind == FALSE_REJECT else Sample(path, label, "val"))
    if not samples:
        raise InspectorError(
            f"--add-reviewed {queue}: the review queue is empty", "mark wrong verdicts in the GUI first"
        )
    try:
        validate_samples(samples, check_masks=False)
    except DatasetError as exc:
        raise InspectorError(f"--add-reviewed {queue}: {exc.message}", exc.fix) from exc
    return samples


def add_reviewed(dataset: Dataset, queue: Path | None) -> tuple[Dataset, dict[str, Any] | None]:
    """The dataset with the queue's samples appended (in memory) and the record for run.json; unchanged without."""
    if queue is None:
        return dataset, None
    added = reviewed_samples(queue)
    known = {s.path.resolve() for s in dataset.samples}
    added = [s for s in added if s.path.resolve() not in known]
    record = {
        "queue": str(Path(queue).resolve()),
        "train_good": sum(s.is_good for s in added),
        "val_defects": sum(not s.is_good for s in added),
        "images": [{"image": s.path.relative_to(queue).as_posix(), "label": s.label, "split": s.split} for s in added],
    }
    return replace(dataset, samples=[*dataset.samples, *added]), record
