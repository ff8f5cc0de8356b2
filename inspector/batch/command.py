"""`inspector batch INPUT... --model BUNDLE --out OUT`: re-inspect files, folders, globs or manifests.

Writes OUT/results.csv and OUT/results.jsonl incrementally (fsynced per micro-batch; `--resume`
continues after a crash without redoing or duplicating a row), heatmap overlays, summary.json,
metrics.json where labels are known, and a self-contained report.html. Exit status 1 when any
input could not be inspected (each has an error row), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from inspector import __version__
from inspector.atomic import atomic_write
from inspector.batch.inputs import Item, collect
from inspector.batch.report import write_report
from inspector.batch.runner import HEATMAP_CHOICES, Options, excluded_by_out, refuse_out_holding_inputs, run_local
from inspector.batch.store import RESULTS_CSV, ResultsStore, inside
from inspector.bundle.schema import Resize, check_threshold
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.errors import ImageReadError, InspectorError
from inspector.geometry import fit_mask
from inspector.imageio import read_mask
from inspector.metrics import anomaly_metrics, operating_first
from inspector.progress import Progress
from inspector.threshold import override_warning
from inspector.typer import Typer, pareto

DEFAULT_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))
"""One decoding thread per two cores keeps up with inference (decoding is ~2 ms of ~25 ms per image)."""

__all__ = ["Item", "add_arguments", "collect", "compute_metrics", "run"]


def _classification_metrics():
    """The classification metrics function where that module exists (it lands with classify bundles)."""
    try:
        return importlib.import_module("inspector.classify_metrics").classification_metrics
    except (ImportError, AttributeError):
        return None


def _pixel_inputs(
    rows: list[dict], masks: dict[str, Path], maps: dict[str, np.ndarray], size: tuple[int, int], policy: Resize
) -> tuple[list | None, list | None, str]:
    if not any(r["path"] in masks for r in rows):
        return None, None, ""
    if any(r["path"] not in maps for r in rows):
        return None, None, "pixel metrics need every anomaly map; this run was resumed, rerun without --resume"
    mask_list = []
    for r in rows:
        try:
            mask_list.append(fit_mask(read_mask(masks[r["path"]]), size, policy) if r["path"] in masks else None)
        except ImageReadError as exc:
            return None, None, f"pixel metrics skipped: {exc.message}"
    return mask_list, [maps[r["path"]] for r in rows], ""


def compute_metrics(rows: list[dict], items: list[Item], engine: Engine, maps: dict[str, np.ndarray]) -> dict | None:
    """Metrics over labelled, scored rows (anomaly metrics; classification metrics for classify bundles)."""
    scored = [r for r in rows if r.get("label") is not None and r.get("score") is not None]
    if not scored:
        return None
    masks = {item.key: item.mask for item in items if item.mask is not None}
    mask_list, map_list, note = _pixel_inputs(scored, masks, maps, engine.input_size, engine.bundle.metadata.resize)
    labels = [r["label"] for r in scored]
    scores = np.array([r["score"] for r in scored])
    metrics = operating_first(
        anomaly_metrics(labels, scores, engine.threshold, mask_list, map_list), labels, scores, engine.threshold
    )
    if note:
        metrics["pixel_metrics_note"] = note
    classification = _classification_metrics()
    if engine.bundle.metadata.task == "classify" and classification is not None:
        metrics["classification"] = classification(
            labels,
            [r.get("predicted_class") for r in scored],
            np.array([r["score"] for r in scored]),
            engine.threshold,
            list(engine.bundle.metadata.class_names),
        )
    return metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        help="image files, folders (recursive; dataset layouts give labels), globs (quoted) or a split.csv manifest",
    )
    parser.add_argument("--model", type=Path, required=True, help="model bundle (.onnx with its .sha256 sidecar)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (everything written stays inside it)")
    parser.add_argument("--split", default=None, help="only this split of a dataset (train, val or test)")
    parser.add_argument("--threshold", type=float, default=None, help="override the bundle's threshold")
    parser.add_argument(
        "--typer",
        type=Path,
        default=None,
        help="a typer bundle (classify on defect types only) "
        "that names the defect type of each NG part (results.csv defect_type)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per inference call (micro-batch)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all cores)")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="decoding threads running ahead of inference"
    )
    parser.add_argument("--provider", default=None, help="onnxruntime provider (default: best installed)")
    parser.add_argument("--save-heatmaps", choices=HEATMAP_CHOICES, default="ng", help="PNG overlays in OUT/heatmaps")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT")
    parser.add_argument("--overwrite", action="store_true", help="replace the results already in OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run on Ray Data: a cluster address, 'auto' (the running cluster) or 'local' (start one here)",
    )
    parser.add_argument("--ray-actors", type=int, default=None, help="Ray actors, one bundle each (default: CPUs)")


def _check(args: argparse.Namespace) -> None:
    if args.batch_size < 1 or args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise InspectorError("--batch-size, --workers and --threads must be at least 1", "pass positive numbers")
    if args.resume and args.overwrite:
        raise InspectorError("--resume and --overwrite contradict each other", "pass one of them")
    if args.threshold is not None:
        check_threshold(
            args.threshold,
            "--threshold",
            "pass a finite number >= 0 (a part is NG when its score is above it), or leave it out to use the bundle's",
        )
    if args.typer is not None and args.ray:
        raise InspectorError("--typer does not run on Ray yet", "leave out --ray to type NG parts, or --typer")
    refuse_out_holding_inputs(args.inputs, args.out)


def run(args: argparse.Namespace) -> int:
    _check(args)
    # no busy-waiting ORT threads: on small edge CPUs they would steal the cores decoding runs on
    bundle = load_bundle(args.model, provider=args.provider, threads=args.threads, spin=False)
    typer = None
    if args.typer is not None:
        typer = Typer(
            load_bundle(args.typer, provider=args.provider, threads=args.threads, spin=False), max_batch=args.batch_size
        )
    engine = Engine(bundle, threshold=args.threshold, max_batch=args.batch_size, typer=typer)
    warning = override_warning(args.threshold, bundle.metadata.threshold, bundle.metadata.threshold_method)
    if warning:
        print(f"warning: --threshold: {warning}", file=sys.stderr)
    items = excluded_by_out(collect(args.inputs, args.split), args.out)
    run_info = {
        "model": str(Path(args.model).resolve()),
        "model_fingerprint": engine.fingerprint,
        "threshold": engine.threshold,
        "task": bundle.metadata.task,
        "inputs": [str(i) for i in args.inputs],
        "split": args.split,
        "package_version": __version__,
        "typer": str(Path(args.typer).resolve()) if typer else None,
        "typer_fingerprint": typer.fingerprint if typer else None,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    store = ResultsStore(args.out, run_info, resume=args.resume, overwrite=args.overwrite)
    todo = sum(item.key not in store.done for item in items)
    options = Options(
        batch_size=args.batch_size,
        workers=args.workers,
        heatmaps=args.save_heatmaps,
        keep_maps=any(item.mask is not None for item in items),
    )
    progress = Progress(todo, label="batch ", enabled=not args.no_progress)
    start = time.perf_counter()
    try:
        if args.ray:
            from inspector.batch.ray import run_ray

            run_ray(items, args, engine, store, options, progress.update)
        else:
            run_local(items, engine, store, options, progress.update)
    finally:
        store.close()
        progress.close()
    elapsed = time.perf_counter() - start
    rows = store.rows
    counts = Counter(r.get("verdict") or "error" for r in rows)
    summary = {
        "images": len(rows),
        "OK": counts["OK"],
        "NG": counts["NG"],
        "UNSURE": counts["UNSURE"],
        "errors": counts["error"],
        "resumed_rows": store.resumed,
        "inspected_now": todo,
        "seconds": round(elapsed, 3),
        "images_per_s": round(todo / elapsed, 2) if elapsed > 0 and todo else None,
        "threshold": engine.threshold,
        "model": str(args.model),
        "model_fingerprint": engine.fingerprint,
        "task": bundle.metadata.task,
        "resize": bundle.metadata.resize,
        "providers": ",".join(bundle.session.get_providers()),
        "batch_size": args.batch_size,
        "runner": f"ray ({args.ray})" if args.ray else "local",
    }
    if typer is not None:  # the Pareto of NG by defect type (docs/classification.md#typer)
        summary["typer"] = str(args.typer)
        summary["ng_by_type"] = {
            name: count for name, count, _ in pareto(r.get("defect_type") for r in rows if r.get("verdict") == "NG")
        }
    atomic_write(inside(args.out, "summary.json"), json.dumps(summary, indent=2).encode())
    metrics = compute_metrics(rows, items, engine, options.maps)
    if metrics is not None:
        atomic_write(inside(args.out, "metrics.json"), json.dumps(metrics, indent=2).encode())
    report = write_report(args.out, rows, summary, metrics)
    rate = f", {summary['images_per_s']} images/s" if summary["images_per_s"] else ""
    print(
        f"{len(rows)} images: {counts['OK']} OK, {counts['NG']} NG, {counts['UNSURE']} UNSURE, "
        f"{counts['error']} errors "
        f"(threshold {engine.threshold:.4f}{rate})"
    )
    if metrics is not None:
        keys = ("image_auroc", "average_precision", "f1", "detection_rate", "false_reject_rate", "pixel_auroc", "aupro")
        print("metrics: " + json.dumps({k: metrics.get(k) for k in keys}))
    print(f"results in {args.out / RESULTS_CSV}, report {report}")
    if counts["error"]:
        print(f"{counts['error']} image(s) could not be inspected: see the error column", file=sys.stderr)
        return 1
    return 0
