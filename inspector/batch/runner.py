"""The local batch pipeline: decode ahead in a thread pool while the engine infers micro-batches.

`inspect_loaded` turns decoded inputs into result rows (and heatmap PNGs); the Ray runner reuses it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

from inspector.atomic import atomic_write
from inspector.batch.heatmaps import overlay
from inspector.batch.inputs import Item, Loaded, expand, load_item
from inspector.batch.store import HEATMAPS, ResultsStore, inside, safe_name
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.isolate import inspect_each

Heatmaps = Literal["ng", "all", "none"]  # which results get an overlay PNG in OUT/heatmaps
HEATMAP_CHOICES: tuple[Heatmaps, ...] = get_args(Heatmaps)


@dataclass
class Options:
    batch_size: int = 8
    workers: int = 2
    heatmaps: Heatmaps = "ng"
    keep_maps: bool = False  # keep anomaly maps of labelled items (pixel metrics need them)
    maps: dict[str, np.ndarray] = field(default_factory=dict)


def error_row(loaded: Loaded, fingerprint: str) -> dict:
    return {
        "path": loaded.item.key,
        "sha256": loaded.sha256,
        "label": loaded.item.label,
        "score": None,
        "verdict": None,
        "reason": None,
        "predicted_class": None,
        "defect_type": None,
        "latency_ms": None,
        "model": fingerprint,
        "error": loaded.error,
        "heatmap": None,
        "decode_ms": round(loaded.decode_ms, 3),
    }


def inspect_loaded(
    engine: Engine, batch: list[Loaded], heatmaps: Heatmaps, keep_map: Callable[[Item, np.ndarray], None] | None = None
) -> list[tuple[dict, bytes | None]]:
    """Rows (in input order) for decoded items, with the heatmap overlay PNG where `heatmaps` asks."""
    images = [loaded.view or loaded.image for loaded in batch if loaded.image is not None]  # a view knows its frame
    results = iter(inspect_each(engine, images, prepared=True))  # a NaN is one error row
    out: list[tuple[dict, bytes | None]] = []
    for loaded in batch:
        image = loaded.image
        if image is None:
            out.append((error_row(loaded, engine.fingerprint), None))
            continue
        result = next(results)
        if isinstance(result, Exception):
            loaded.error = f"{loaded.item.path}: inference failed ({result})"
            out.append((error_row(loaded, engine.fingerprint), None))
            continue
        row = error_row(loaded, engine.fingerprint)
        row.update(
            score=result.score,
            verdict=result.verdict.value,
            reason=result.reason_code or None,
            reason_detail=result.reason_detail or None,
            predicted_class=result.predicted_class,
            defect_type=result.defect_type,
            defect_type_probability=result.defect_type_probability,
            latency_ms=round(result.timings_ms.get("inference", 0.0), 3),
            error="",
        )
        if result.probs is not None:
            row["probs"] = result.probs
        png = None
        amap = result.anomaly_map  # the engine returns one for every result
        if amap is not None and (heatmaps == "all" or (heatmaps == "ng" and (result.is_ng or result.is_unsure))):
            ok, encoded = cv2.imencode(".png", overlay(image, amap, engine.threshold), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            png = encoded.tobytes() if ok else None
            row["heatmap"] = f"{HEATMAPS}/{safe_name(loaded.item.key)}" if ok else None
        if keep_map is not None and amap is not None and loaded.item.label is not None:
            keep_map(loaded.item, amap)
        out.append((row, png))
    return out


def write_rows(store: ResultsStore, rows: Iterable[tuple[dict, bytes | None]]) -> int:
    """Heatmaps first, then the rows (a row on disk implies its heatmap is there)."""
    kept = []
    for row, png in rows:
        if png is not None and row.get("heatmap"):
            atomic_write(inside(store.out, *row["heatmap"].split("/")), png)
        kept.append(row)
    store.append(kept)
    return len(kept)


def run_local(
    items: list[Item],
    engine: Engine,
    store: ResultsStore,
    options: Options,
    on_done: Callable[[int], None] = lambda n: None,
) -> None:
    """Inspect items not yet in `store`, decoding up to a bounded window ahead of inference."""
    todo = iter([item for item in items if item.key not in store.done])
    ahead = options.batch_size * 2 + options.workers

    def keep_map(item: Item, amap: np.ndarray) -> None:
        options.maps[item.key] = amap.astype(np.float16)

    keep = keep_map if options.keep_maps else None
    with ThreadPoolExecutor(max_workers=max(1, options.workers), thread_name_prefix="decode") as pool:
        window: deque[Future] = deque()

        def fill() -> None:
            while len(window) < ahead:
                item = next(todo, None)
                if item is None:
                    return
                window.append(pool.submit(load_item, item, engine.view))

        fill()
        batch: list[Loaded] = []
        while window:
            batch.append(window.popleft().result())
            fill()
            if len(batch) >= options.batch_size or not window:
                on_done(write_rows(store, inspect_loaded(engine, batch, options.heatmaps, keep)))
                batch = []


def real(path: str | Path) -> str:
    """The path with symlinks resolved; a symlink loop resolves to itself (it becomes an error row, not a crash)."""
    return os.path.realpath(path)


def refuse_out_holding_inputs(inputs: list[str], out: Path) -> None:
    """OUT must not be an input nor contain one: results would be inspected and --overwrite would delete inputs."""
    root = real(out)
    for text in inputs:
        for path in expand(str(text)):
            where = real(path)
            if where == root or where.startswith(root.rstrip("/") + "/"):
                raise InspectorError(
                    f"--out {out} is, or contains, the input {text}",
                    "write the results to a folder outside the inputs, e.g. --out results/",
                )


def excluded_by_out(items: list[Item], out: Path) -> list[Item]:
    """Drop inputs that live inside OUT (our own heatmaps, on a rerun over a parent folder)."""
    root = real(out).rstrip("/") + "/"
    return [item for item in items if not real(item.key).startswith(root)]
