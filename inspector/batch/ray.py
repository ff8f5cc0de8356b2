"""`inspector batch --ray ADDRESS|auto|local`: the same job on Ray Data, for archives of millions of images.

Inputs become a Ray dataset; `map_batches` runs an actor pool, one bundle per actor, each actor
reading, decoding and inspecting its batch with the same code as the local run (`load_item`,
`inspect_loaded`). Rows and heatmap PNGs stream back to this process, which writes them
incrementally to OUT, so `--resume` works the same. Inputs and the bundle must be readable at the
same paths on every node (a shared file system). Needs `pip install 'ray[data]'`.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inspector.batch.inputs import Item, load_item
from inspector.batch.runner import Heatmaps, Options, inspect_loaded, write_rows
from inspector.batch.store import ResultsStore
from inspector.engine import Engine
from inspector.errors import InspectorError


class InspectActor:
    """A Ray Data callable class: loads the bundle once, then inspects batches of inputs."""

    def __init__(
        self,
        model: str,
        threshold: float,
        provider: str | None,
        threads: int | None,
        batch_size: int,
        heatmaps: Heatmaps,
    ) -> None:
        from inspector.bundle.session import load_bundle

        self.engine = Engine(
            load_bundle(model, provider=provider, threads=threads, spin=False),
            threshold=threshold,
            max_batch=batch_size,
        )
        self.heatmaps = heatmaps

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [
            Item(Path(p), lab or None, Path(m) if m else None)
            for p, lab, m in zip(batch["path"], batch["label"], batch["mask"], strict=True)
        ]
        loaded = [load_item(item, self.engine.view) for item in items]
        maps: dict[str, np.ndarray] = {}
        rows = inspect_loaded(
            self.engine, loaded, self.heatmaps, lambda item, amap: maps.__setitem__(item.key, amap.astype(np.float16))
        )
        return {
            "row": np.array([json.dumps(row) for row, _ in rows], dtype=object),
            "png": np.array([png or b"" for _, png in rows], dtype=object),
            "map": np.array(
                [maps[row["path"]].tobytes() if row["path"] in maps else b"" for row, _ in rows], dtype=object
            ),
        }


def _connect(address: str):
    try:
        import ray
    except ImportError as exc:
        raise InspectorError("--ray needs Ray Data, which is not installed", "pip install 'ray[data]'") from exc
    if not ray.is_initialized():
        try:
            if address == "local":
                ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except ConnectionError as exc:
            raise InspectorError(
                f"cannot reach a Ray cluster at {address!r} ({exc})",
                "start one (`ray start --head`), pass its address, or use --ray local",
            ) from exc
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours is on stderr already
    context.print_on_execution_start = False
    return ray


def run_ray(
    items: list[Item],
    args: argparse.Namespace,
    engine: Engine,
    store: ResultsStore,
    options: Options,
    on_done: Callable[[int], None] = lambda n: None,
) -> None:
    """Inspect the items not yet in `store` on Ray; rows are written here as batches come back."""
    todo = [item for item in items if item.key not in store.done]
    if not todo:
        return
    ray = _connect(args.ray)
    threads = args.threads or 1
    actors = args.ray_actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    records = [
        {"path": item.key, "label": item.label or "", "mask": str(item.mask) if item.mask else ""} for item in todo
    ]
    dataset = ray.data.from_items(
        records, override_num_blocks=max(1, min(len(records) // options.batch_size, 4 * actors))
    )
    results = dataset.map_batches(
        InspectActor,
        batch_size=options.batch_size,
        batch_format="numpy",
        concurrency=actors,
        num_cpus=threads,
        fn_constructor_kwargs={
            "model": str(Path(args.model).resolve()),
            "threshold": engine.threshold,
            "provider": args.provider,
            "threads": threads,
            "batch_size": options.batch_size,
            "heatmaps": options.heatmaps,
        },
    )
    height, width = engine.input_size
    for batch in results.iter_batches(batch_size=options.batch_size, batch_format="numpy"):
        rows = []
        for text, png, amap in zip(batch["row"], batch["png"], batch["map"], strict=True):
            row = json.loads(text)
            rows.append((row, bytes(png) or None))
            if options.keep_maps and amap:
                options.maps[row["path"]] = np.frombuffer(bytes(amap), np.float16).reshape(height, width)
        on_done(write_rows(store, rows))
