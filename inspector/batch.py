"""`inspector batch`: inspect a dataset or any folder with a bundle; write results.csv (+ metrics.json)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.data.dataset import load_dataset
from inspector.engine import Engine
from inspector.errors import DatasetError, ImageReadError, InspectorError
from inspector.imageio import is_image_file, read_image, read_mask, resize_mask
from inspector.metrics import anomaly_metrics
from inspector.model import load_bundle

FIELDS = ["path", "score", "verdict", "label", "error"]


@dataclass(frozen=True)
class Item:
    path: Path
    label: str | None = None
    mask: Path | None = None


def collect(inputs: list[Path], split: str | None, seed: int = 0) -> list[Item]:
    """Items from dataset folders (labels, masks, splits) or plain folders/files (recursively)."""
    items: list[Item] = []
    for root in inputs:
        if root.is_file():
            items.append(Item(root))
            continue
        if not root.is_dir():
            raise InspectorError(f"input {root} does not exist", "pass image files or folders")
        try:
            dataset = load_dataset(root, seed=seed)
        except DatasetError:
            dataset = None
        if dataset is not None:
            samples = dataset.select(split=split) if split else dataset.samples
            items += [Item(s.path, s.label, s.mask) for s in samples]
        else:
            items += [Item(p) for p in sorted(root.rglob("*")) if p.is_file() and is_image_file(p)]
    if not items:
        raise InspectorError(f"no images found in {', '.join(map(str, inputs))}", "check the folder and --split")
    return items


def _decode(item: Item) -> tuple[np.ndarray | None, str]:
    try:
        return read_image(item.path), ""
    except ImageReadError as exc:
        return None, exc.message


def _decoded(items: list[Item], workers: int) -> Iterator[tuple[Item, np.ndarray | None, str]]:
    """Decode in a thread pool, ahead of inference, in input order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item, (image, error) in zip(items, pool.map(_decode, items)):
            yield item, image, error


def run_batch(items: list[Item], engine: Engine, out: Path, *, batch_size: int = 8, workers: int = 2) -> dict:
    """Inspect every item, writing rows as they complete; returns counts (and metrics where labelled)."""
    out.mkdir(parents=True, exist_ok=True)
    labelled = [i for i in items if i.label is not None]
    keep_maps = any(i.mask is not None for i in labelled)
    counts = {"OK": 0, "NG": 0, "error": 0}
    scored: list[tuple[Item, float, np.ndarray | None]] = []
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        pending: list[tuple[Item, np.ndarray]] = []

        def flush() -> None:
            results = engine.inspect([image for _, image in pending])
            for (item, _), result in zip(pending, results):
                counts[result.verdict.value] += 1
                writer.writerow({"path": str(item.path), "score": f"{result.score:.6f}", "verdict": result.verdict.value,
                                 "label": item.label or "", "error": ""})
                if item.label is not None:
                    amap = result.anomaly_map.astype(np.float16) if keep_maps else None
                    scored.append((item, result.score, amap))
            pending.clear()

        for item, image, error in _decoded(items, workers):
            if image is None:
                counts["error"] += 1
                writer.writerow({"path": str(item.path), "score": "", "verdict": "", "label": item.label or "", "error": error})
                continue
            pending.append((item, image))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
    summary = {"counts": counts, "threshold": engine.threshold, "model": engine.fingerprint}
    if scored:
        summary["metrics"] = _metrics(scored, engine)
        (out / "metrics.json").write_text(json.dumps(summary["metrics"], indent=2, sort_keys=True))
    return summary


def _metrics(scored: list[tuple[Item, float, np.ndarray | None]], engine: Engine) -> dict:
    labels = [item.label for item, _, _ in scored]
    scores = np.array([score for _, score, _ in scored])
    masks = maps = None
    if any(item.mask is not None for item, _, _ in scored):
        masks = [None if item.mask is None else resize_mask(read_mask(item.mask), engine.input_size) for item, _, _ in scored]
        maps = [amap for _, _, amap in scored]
    return anomaly_metrics(labels, scores, engine.threshold, masks, maps)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, help="dataset folders, image folders (recursive) or files")
    parser.add_argument("--model", type=Path, required=True, help="model bundle (.onnx with its .sha256 sidecar)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for results.csv and metrics.json")
    parser.add_argument("--split", default=None, help="only this split of a dataset (train, val or test)")
    parser.add_argument("--threshold", type=float, default=None, help="override the bundle's threshold")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--provider", default=None, help="onnxruntime provider (default: best installed)")


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.model, provider=args.provider, threads=args.threads)
    engine = Engine(bundle, threshold=args.threshold, max_batch=args.batch_size)
    items = collect(args.inputs, args.split)
    summary = run_batch(items, engine, args.out, batch_size=args.batch_size)
    c = summary["counts"]
    print(f"{len(items)} images: {c['OK']} OK, {c['NG']} NG, {c['error']} errors (threshold {engine.threshold:.4f})")
    if "metrics" in summary:
        m = summary["metrics"]
        keys = ("image_auroc", "average_precision", "f1", "detection_rate", "false_reject_rate", "pixel_auroc", "aupro")
        print("metrics: " + json.dumps({k: m.get(k) for k in keys}))
    print(f"results in {args.out / 'results.csv'}")
    if c["error"]:
        print(f"{c['error']} image(s) could not be inspected: see the error column", file=sys.stderr)
        return 1
    return 0
