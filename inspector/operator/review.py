"""The review queue: parts the operator says got the wrong verdict, saved for retraining.

A folder with `images/` and `review.csv` (one row per marked part: marking a part again replaces its
row); `export_manifest()` writes a `split.csv` (image,label,split) that `inspector train --data` and
`inspector data check` accept: false rejects become `good` (4 in 5 to train, 1 in 5 to val), escapes
become their defect type in `test`.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError
from inspector.imageio import write_image
from inspector.live.pipeline import crop
from inspector.live.record import FrameRecord

FALSE_REJECT = "false_reject"  # the model said NG, the part is good
ESCAPE = "escape"  # the model said OK, the part is defective
FIELDS = (
    "id",
    "time",
    "station",
    "camera",
    "frame_id",
    "kind",
    "label",
    "verdict",
    "score",
    "threshold",
    "class",
    "model",
    "roi",
    "image",
    "full_image",
)


def default_review_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "inspector" / "review"


@dataclass(frozen=True)
class ReviewItem:
    id: str
    kind: str
    label: str
    image: Path


class ReviewQueue:
    """The review folder, one row per part; safe to call from one writer thread while others read."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.csv = self.root / "review.csv"
        self._lock = threading.Lock()

    def add(self, record: FrameRecord, kind: str, *, label: str | None = None) -> ReviewItem:
        """Save the part as the model saw it (the record's own ROI crop, plus the full frame) and its CSV row.

        One correction per part: marking the same part again replaces its earlier row and images.
        """
        if kind not in (FALSE_REJECT, ESCAPE):
            raise ValueError(f"unknown review kind {kind!r}")
        if record.image is None:
            raise InspectorError("this part has no image to save", "enable images for this camera")
        label = "good" if kind == FALSE_REJECT else (label or record.result.predicted_class or "defect")
        if kind == ESCAPE and label == "good":
            label = "defect"
        item_id = part_id(record)
        roi = record.roi
        images = self.root / "images"
        try:
            images.mkdir(parents=True, exist_ok=True)
            image_path = images / f"{item_id}.png"
            write_image(image_path, crop(record.image, roi))
            full = ""
            (images / f"{item_id}_full.png").unlink(missing_ok=True)  # from an earlier mark of this part
            if roi is not None:
                full_path = images / f"{item_id}_full.png"
                write_image(full_path, record.image)
                full = full_path.relative_to(self.root).as_posix()
            result = record.result
            row = {
                "id": item_id,
                "time": f"{record.captured_at:.3f}",
                "station": record.station,
                "camera": record.camera,
                "frame_id": record.frame_id,
                "kind": kind,
                "label": label,
                "verdict": result.verdict.value,
                "score": f"{result.score:.6g}",
                "threshold": f"{result.threshold:.6g}",
                "class": result.predicted_class or "",
                "model": result.model_fingerprint[:16],
                "roi": " ".join(map(str, roi)) if roi else "",
                "image": image_path.relative_to(self.root).as_posix(),
                "full_image": full,
            }
            with self._lock:
                rows = [r for r in self._read() if r["id"] != item_id] + [row]
                tmp = self.csv.with_suffix(".tmp")
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    writer = csv.DictWriter(f, fieldnames=FIELDS)
                    writer.writeheader()
                    writer.writerows(rows)
                tmp.replace(self.csv)
        except OSError as exc:
            raise InspectorError(
                f"cannot save to the review folder {self.root} ({exc.strerror or exc})",
                "free disk space or check the folder's permissions",
            ) from exc
        return ReviewItem(item_id, kind, label, image_path)

    def rows(self) -> list[dict[str, str]]:
        """The marked parts, one row each (the newest mark of a part wins, also in a hand-edited file)."""
        with self._lock:
            return list({row["id"]: row for row in self._read()}.values())

    def find(self, record: FrameRecord) -> dict[str, str] | None:
        """The row of this part when it was marked already."""
        return next((row for row in self.rows() if row["id"] == part_id(record)), None)

    def _read(self) -> list[dict[str, str]]:
        if not self.csv.is_file():
            return []
        with open(self.csv, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def export_manifest(self, out: Path | None = None) -> Path:
        """Write `split.csv` (image,label,split; paths relative to it) for the marked parts; returns its path.

        The manifest passes `inspector data check`: one row per image, byte-identical images once, at
        least one good part in `train`; a queue that cannot give that is refused with the reason.
        """
        out = Path(out) if out else self.root / "split.csv"
        rows = self.rows()
        if not rows:
            raise InspectorError("the review queue is empty", "mark a wrong verdict first")
        kept, seen = [], set()
        for row in rows:
            path = self.root / row["image"]
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue  # an image deleted by hand: its row cannot be exported
            if digest not in seen:
                seen.add(digest)
                kept.append(row)
        good = sorted((r for r in kept if r["label"] == "good"), key=lambda r: r["id"])
        if not good:
            raise InspectorError(
                "the review queue holds no false rejects, and a training data set needs good parts",
                "mark at least one false reject (a good part the model rejected) before exporting",
            )
        val = {r["id"] for i, r in enumerate(good) if i % 5 == 4}  # the first good part always trains
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "label", "split"])
            for row in kept:
                image = Path(os.path.relpath(self.root / row["image"], out.parent)).as_posix()
                split = "test" if row["label"] != "good" else "val" if row["id"] in val else "train"
                writer.writerow([image, row["label"], split])
        return out


def part_id(record: FrameRecord) -> str:
    """The review id of a part: capture time (to the millisecond), camera and frame number."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(record.captured_at))
    return f"{stamp}.{int(record.captured_at * 1000) % 1000:03d}_{record.camera}_{record.frame_id}"
