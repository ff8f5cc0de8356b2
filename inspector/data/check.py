"""`inspector data check`: what a data engineer needs to know before training.

Reports the layout, counts per label and split, the spread of image sizes, colour and bit depth,
unreadable files, masks whose size differs from their image, and exact duplicates (by SHA-256
of the bytes). Problems (exit status 1): unreadable images or masks, mask size mismatches,
duplicates across splits (they leak test images into training) and duplicates with different
labels. Duplicates within one split and label are only warned about.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from inspector.data.dataset import SPLITS, Dataset, Sample, load_dataset
from inspector.errors import DatasetError, ImageReadError
from inspector.imageio import MAX_PIXELS, decode_image, read_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="dataset folder (manifest, MVTec or class folders)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split where one is drawn")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the report as JSON")


def _inspect_file(path: Path) -> dict[str, Any]:
    """Hash, size, channels and bit depth of one file, fully decoded; a failure becomes `error`."""
    info: dict[str, Any] = {"sha256": None, "size": None, "gray": None, "depth": None, "error": None}
    try:
        data = read_bytes(path)
        info["sha256"] = hashlib.sha256(data).hexdigest()
        raw = _decode_raw(data)
        if raw is None:  # let the runtime decoder say why, in its words
            decode_image(data, str(path))
            raise ImageReadError(f"{path}: the image data cannot be decoded")
    except ImageReadError as exc:
        info["error"] = exc.message
        return info
    info["size"] = (int(raw.shape[1]), int(raw.shape[0]))
    info["gray"] = raw.ndim == 2 or raw.shape[2] in (1, 2)
    info["depth"] = int(raw.dtype.itemsize * 8)
    return info


def _decode_raw(data: bytes) -> np.ndarray | None:
    """Decode at the file's own depth and channels; None when the header or data is bad or too big."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except Exception:  # noqa: BLE001 (PIL raises many types for a bad header; the caller re-reads for the message)
        return None
    if width * height > MAX_PIXELS:
        return None
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    return raw if raw is not None and raw.size else None


def _spread(values: list[int]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else {}


def check_dataset(dataset: Dataset) -> dict[str, Any]:
    """Inspect every image and mask of a dataset; returns the report as plain data."""
    rel = dataset.relative
    samples = dataset.samples
    masked = [(s, s.mask) for s in samples if s.mask is not None]
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(_inspect_file, [s.path for s in samples]))
        mask_infos = list(pool.map(_inspect_file, [mask for _, mask in masked]))

    counts = {label: {split: len(dataset.select(split, label)) for split in SPLITS} for label in dataset.labels}
    unreadable = [
        {"path": rel(s.path), "kind": "image", "reason": i["error"]}
        for s, i in zip(samples, infos, strict=True)
        if i["error"]
    ]
    unreadable += [
        {"path": rel(mask), "kind": "mask", "reason": i["error"]}
        for (_, mask), i in zip(masked, mask_infos, strict=True)
        if i["error"]
    ]

    size_of = {s.path: i["size"] for s, i in zip(samples, infos, strict=True)}
    mask_mismatch = [
        {"mask": rel(mask), "image": rel(s.path), "mask_size": list(mi["size"]), "image_size": list(size_of[s.path])}
        for (s, mask), mi in zip(masked, mask_infos, strict=True)
        if mi["size"] and size_of[s.path] and tuple(mi["size"]) != tuple(size_of[s.path])
    ]

    readable = [i for i in infos if not i["error"]]
    sizes = Counter(tuple(i["size"]) for i in readable)
    images = {
        "count": len(samples),
        "readable": len(readable),
        "width": _spread([w for w, _ in (i["size"] for i in readable)]),
        "height": _spread([h for _, h in (i["size"] for i in readable)]),
        "distinct_sizes": len(sizes),
        "common_sizes": [{"width": w, "height": h, "count": n} for (w, h), n in sizes.most_common(5)],
        "grayscale": sum(1 for i in readable if i["gray"]),
        "colour": sum(1 for i in readable if not i["gray"]),
        "bit_depth": {str(d): n for d, n in sorted(Counter(i["depth"] for i in readable).items())},
    }

    groups: dict[str, list[Sample]] = defaultdict(list)
    for s, i in zip(samples, infos, strict=True):
        if i["sha256"]:
            groups[i["sha256"]].append(s)
    duplicates: list[dict[str, Any]] = []
    for digest, members in sorted(groups.items(), key=lambda kv: rel(kv[1][0].path)):
        if len(members) > 1:
            duplicates.append(
                {
                    "sha256": digest,
                    "cross_split": len({s.split for s in members}) > 1,
                    "conflicting_labels": len({s.label for s in members}) > 1,
                    "files": [{"path": rel(s.path), "split": s.split, "label": s.label} for s in members],
                }
            )

    problems = [f"unreadable {u['kind']}: {u['reason']}" for u in unreadable]
    problems += [
        f"mask {m['mask']} is {m['mask_size'][0]}x{m['mask_size'][1]} but image {m['image']} is "
        f"{m['image_size'][0]}x{m['image_size'][1]}"
        for m in mask_mismatch
    ]
    warnings: list[str] = []
    for d in duplicates:
        names = ", ".join(f"{f['path']} ({f['split']}/{f['label']})" for f in d["files"])
        if d["cross_split"]:
            problems.append(f"DUPLICATE ACROSS SPLITS (test leaks into training): {names}")
        elif d["conflicting_labels"]:
            problems.append(f"duplicate with different labels: {names}")
        else:
            warnings.append(f"duplicate within one split: {names}")
    for label in dataset.labels:  # good needs val (calibration) and test; a defect type needs test
        missing = [
            split for split in ("val", "test") if counts[label][split] == 0 and (split == "test" or label == "good")
        ]
        if missing:
            warnings.append(f"label {label!r} has no {' or '.join(missing)} images")
    return {
        "root": str(dataset.root),
        "layout": dataset.layout,
        "samples": len(samples),
        "labels": dataset.labels,
        "masks": len(masked),
        "counts": counts,
        "images": images,
        "unreadable": unreadable,
        "mask_size_mismatch": mask_mismatch,
        "duplicates": duplicates,
        "problems": problems,
        "warnings": warnings,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as readable text."""
    lines = [
        f"dataset {report['root']}: layout {report['layout']}, {report['samples']} images, {report['masks']} masks",
        "",
    ]
    width = max([len("label"), len("total")] + [len(label) for label in report["labels"]])
    header = f"  {'label':<{width}}" + "".join(f"{split:>8}" for split in SPLITS) + f"{'total':>8}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    totals: Counter[str] = Counter()
    for label, row in report["counts"].items():
        totals.update(row)
        lines.append(f"  {label:<{width}}" + "".join(f"{row[s]:>8}" for s in SPLITS) + f"{sum(row.values()):>8}")
    lines.append(f"  {'total':<{width}}" + "".join(f"{totals[s]:>8}" for s in SPLITS) + f"{sum(totals.values()):>8}")
    im = report["images"]
    lines.append("")
    if im["readable"]:
        w, h = im["width"], im["height"]
        lines.append(f"  width  min {w['min']}  median {w['median']:g}  max {w['max']}")
        lines.append(f"  height min {h['min']}  median {h['median']:g}  max {h['max']}")
        common = ", ".join(f"{c['width']}x{c['height']} ({c['count']})" for c in im["common_sizes"])
        lines.append(f"  {im['distinct_sizes']} distinct sizes; most common: {common}")
        depth = ", ".join(f"{n} at {d}-bit" for d, n in im["bit_depth"].items())
        lines.append(f"  {im['grayscale']} grayscale, {im['colour']} colour; {depth}")
    lines.append(
        f"  unreadable files: {len(report['unreadable'])}; mask size mismatches: "
        f"{len(report['mask_size_mismatch'])}; duplicate groups: {len(report['duplicates'])} "
        f"({sum(d['cross_split'] for d in report['duplicates'])} across splits)"
    )
    if report["problems"]:
        lines += ["", f"PROBLEMS ({len(report['problems'])}):"] + [f"  - {p}" for p in report["problems"]]
    if report["warnings"]:
        lines += ["", f"warnings ({len(report['warnings'])}):"] + [f"  - {w}" for w in report["warnings"]]
    lines += ["", "result: " + ("problems found, fix them before training" if report["problems"] else "clean")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.data, seed=args.seed)
    report = check_dataset(dataset)
    print(format_report(report))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"cannot write {args.json} ({exc.strerror})", "pass a writable --json path") from exc
        print(f"report written to {args.json}", file=sys.stderr)
    return 1 if report["problems"] else 0
