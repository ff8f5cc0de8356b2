"""The review queue: parts the operator says got the wrong verdict, saved for retraining.

A folder with `images/` and `review.csv` (one row per marked part); `export_manifest()` writes a
`split.csv` (image,label,split) that `inspector train --data` reads: false rejects become `good`
(4 in 5 to train, 1 in 5 to val), escapes become their defect type in `test`.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.errors import InspectorError
from inspector.live.pipeline import crop
from inspector.live.record import FrameRecord

FALSE_REJECT = "false_reject"  # the model said NG, the part is good
ESCAPE = "escape"  # the model said OK, the part is defective
FIELDS = ("id", "time", "station", "camera", "frame_id", "kind", "label", "verdict", "score", "threshold",
          "class", "model", "roi", "image", "full_image")


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
    """Append-only review folder; safe to call from one writer thread while others read."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.csv = self.root / "review.csv"
        self._lock = threading.Lock()

    def add(self, record: FrameRecord, kind: str, *, label: str | None = None,
            roi: tuple[int, int, int, int] | None = None) -> ReviewItem:
        """Save the inspected image (the ROI crop the model saw, plus the full frame) and one CSV row."""
        if kind not in (FALSE_REJECT, ESCAPE):
            raise ValueError(f"unknown review kind {kind!r}")
        if record.image is None:
            raise InspectorError("this part has no image to save", "enable images for this camera")
        label = "good" if kind == FALSE_REJECT else (label or record.result.predicted_class or "defect")
        if kind == ESCAPE and label == "good":
            label = "defect"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(record.captured_at))
        item_id = f"{stamp}_{record.camera}_{record.frame_id}"
        images = self.root / "images"
        try:
            images.mkdir(parents=True, exist_ok=True)
            image_path = images / f"{item_id}.png"
            _write_png(image_path, crop(record.image, roi))
            full = ""
            if roi is not None:
                full_path = images / f"{item_id}_full.png"
                _write_png(full_path, record.image)
                full = full_path.relative_to(self.root).as_posix()
            result = record.result
            row = {"id": item_id, "time": f"{record.captured_at:.3f}", "station": record.station,
                   "camera": record.camera, "frame_id": record.frame_id, "kind": kind, "label": label,
                   "verdict": result.verdict.value, "score": f"{result.score:.6g}",
                   "threshold": f"{result.threshold:.6g}", "class": result.predicted_class or "",
                   "model": result.model_fingerprint[:16], "roi": " ".join(map(str, roi)) if roi else "",
                   "image": image_path.relative_to(self.root).as_posix(), "full_image": full}
            with self._lock:
                new = not self.csv.is_file()
                with open(self.csv, "a", newline="", encoding="utf-8") as f:
                    writer = csv.DictWriter(f, fieldnames=FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
        except OSError as exc:
            raise InspectorError(f"cannot save to the review folder {self.root} ({exc.strerror or exc})",
                                 "free disk space or check the folder's permissions") from exc
        return ReviewItem(item_id, kind, label, image_path)

    def rows(self) -> list[dict[str, str]]:
        if not self.csv.is_file():
            return []
        with self._lock, open(self.csv, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def export_manifest(self, out: Path | None = None) -> Path:
        """Write `split.csv` (image,label,split; paths relative to it) for the marked parts; returns its path."""
        out = Path(out) if out else self.root / "split.csv"
        rows = self.rows()
        if not rows:
            raise InspectorError("the review queue is empty", "mark a wrong verdict first")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "label", "split"])
            for row in rows:
                image = Path(os.path.relpath(self.root / row["image"], out.parent)).as_posix()
                writer.writerow([image, row["label"], _split(row)])
        return out


def _split(row: dict[str, str]) -> str:
    if row["label"] != "good":
        return "test"  # anomaly models train on good parts only; defects check the threshold
    return "val" if int(hashlib.sha256(row["id"].encode()).hexdigest(), 16) % 5 == 0 else "train"


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
