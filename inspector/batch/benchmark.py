"""`inspector benchmark --model BUNDLE [--batch 1,8] [--provider ...] [--threads N] [--against RUN]`.

Warm-up, then latency p50/p99 and throughput per batch size and provider on fixed random images at
the bundle's input size. `--against RUN` times the same model in torch eager in the same process
(the training side is imported only then, by name, so the edge runtime never loads torch).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inspector.bundle.session import PROVIDER_PREFERENCE, load_bundle
from inspector.errors import InspectorError


def time_calls(call: Callable[[], object], *, warmup: int, seconds: float, min_calls: int) -> list[float]:
    """Seconds per call after `warmup` untimed calls; runs for `seconds` and at least `min_calls` times."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < end:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def summarise(name: str, batch: int, times: list[float]) -> dict:
    t = np.array(times) * 1000
    return {
        "runtime": name,
        "batch": batch,
        "calls": len(t),
        "p50_ms": float(np.percentile(t, 50)),
        "p99_ms": float(np.percentile(t, 99)),
        "ms_per_image": float(np.median(t)) / batch,
        "images_per_s": batch * len(t) / (t.sum() / 1000),
    }


def _providers(text: str | None) -> list[str]:
    if text:
        return [p.strip() for p in text.split(",") if p.strip()]
    available = ort.get_available_providers()
    return [p for p in PROVIDER_PREFERENCE if p in available] or available[:1]


def _batches(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise InspectorError(f"--batch {text!r} is not a list of numbers", "pass e.g. --batch 1,8") from exc
    if not sizes or min(sizes) < 1:
        raise InspectorError(f"--batch {text!r} needs positive batch sizes", "pass e.g. --batch 1,8")
    return sizes


Config = tuple[str, str, int, Callable[[], object]]  # (model name, runtime, batch, call)


def bundle_configs(
    path: Path, provider: str, threads: int | None, sizes: list[int], images: np.ndarray, spin: bool = True
) -> list[Config]:
    bundle = load_bundle(path, provider=provider, threads=threads, spin=spin)
    names = list(bundle.output_names)
    label = "onnxruntime " + bundle.session.get_providers()[0].replace("ExecutionProvider", "")
    return [(path.name, label, size, partial(bundle.session.run, names, {"image": images[:size]})) for size in sizes]


def torch_configs(run_dir: Path, sizes: list[int], images: np.ndarray) -> list[Config]:
    """The run's torch reference model in eager mode (needs the 'train' extra)."""
    try:
        torch = importlib.import_module("torch")
        load_run = importlib.import_module("training.run").load_run
    except ModuleNotFoundError as exc:
        raise InspectorError(
            f"--against needs the 'train' extra ({exc.name} is not installed)",
            "pip install 'inspector[train]' or drop --against",
        ) from exc
    _, model = load_run(run_dir)

    def call(x: object) -> object:
        with torch.inference_mode():
            return model(x)

    return [(run_dir.name, "torch eager", size, partial(call, torch.from_numpy(images[:size]))) for size in sizes]


def measure(configs: list[Config], *, rounds: int, warmup: int, seconds: float, min_calls: int) -> list[dict]:
    """Time every configuration in `rounds` interleaved rounds (fair on a shared, drifting CPU)."""
    times: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    for r in range(rounds):
        for i, (_, _, _, call) in enumerate(configs):
            times[i] += time_calls(
                call,
                warmup=warmup if r == 0 else 1,
                seconds=seconds / rounds,
                min_calls=max(1, -(-min_calls // rounds)),
            )
    return [dict(summarise(runtime, size, times[i]), model=name) for i, (name, runtime, size, _) in enumerate(configs)]


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'model':<22} {'runtime':<18} {'batch':>5} {'p50 ms':>9} {'p99 ms':>9} {'ms/img':>8} {'img/s':>8} "
        f"{'vs torch':>9} {'vs 1st':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = f"{r['speedup_vs_torch']:.2f}x" if r.get("speedup_vs_torch") else ""
        first = f"{r['speedup_vs_first']:.2f}x" if r.get("speedup_vs_first") else ""
        lines.append(
            f"{r['model'][:22]:<22} {r['runtime']:<18} {r['batch']:>5} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} "
            f"{r['ms_per_image']:>8.2f} {r['images_per_s']:>8.1f} {ratio:>9} {first:>7}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        required=True,
        help="model bundle (.onnx); repeat to compare bundles (e.g. fp32 and int8) in one run",
    )
    parser.add_argument("--batch", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--provider", default=None, help="comma-separated providers (default: every one installed)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (onnxruntime and torch)")
    parser.add_argument(
        "--against", type=Path, default=None, metavar="RUN", help="also time RUN's model in torch eager"
    )
    parser.add_argument(
        "--no-spin",
        action="store_true",
        help="onnxruntime threads do not busy-wait between runs (as `inspector batch` runs them)",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds the timed seconds are split into")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    sizes = _batches(args.batch)
    first = load_bundle(args.model[0])
    height, width = first.input_size
    for path in args.model[1:]:
        if load_bundle(path).input_size != (height, width):
            raise InspectorError(
                f"{path} takes {load_bundle(path).input_size}, {args.model[0]} takes {(height, width)}",
                "compare bundles of the same input size",
            )
    images = np.random.default_rng(0).integers(0, 256, (max(sizes), height, width, 3), dtype=np.uint8)
    configs: list[Config] = []
    for path in args.model:
        for provider in _providers(args.provider):
            configs += bundle_configs(path, provider, args.threads, sizes, images, spin=not args.no_spin)
    previous = None
    if args.against is not None:
        configs += torch_configs(args.against, sizes, images)
        torch = importlib.import_module("torch")
        previous = torch.get_num_threads()
        if args.threads:
            torch.set_num_threads(args.threads)  # the same thread budget as onnxruntime; restored below
    try:
        rows = measure(
            configs, rounds=max(1, args.rounds), warmup=max(0, args.warmup), seconds=max(0.0, args.seconds), min_calls=5
        )
    finally:
        if previous is not None:
            importlib.import_module("torch").set_num_threads(previous)
    ort_rows = [r for r in rows if r["runtime"].startswith("onnxruntime")]
    eager = {r["batch"]: r for r in rows if r["runtime"] == "torch eager"}
    base = {(r["runtime"], r["batch"]): r for r in ort_rows if r["model"] == args.model[0].name}
    for r in ort_rows:
        if r["batch"] in eager:
            r["speedup_vs_torch"] = r["images_per_s"] / eager[r["batch"]]["images_per_s"]
        if len(args.model) > 1 and (r["runtime"], r["batch"]) in base:
            r["speedup_vs_first"] = r["images_per_s"] / base[(r["runtime"], r["batch"])]["images_per_s"]
    print(
        f"{height}x{width} {first.metadata.method}, threads {args.threads or 'default'}, "
        f"{args.rounds} interleaved rounds, {args.seconds:g} s per configuration"
    )
    print(format_table(rows))
    for path in args.model:
        best = max((r for r in ort_rows if r["model"] == path.name), key=lambda r: r["images_per_s"])
        print(
            f"best onnxruntime throughput of {path.name}: {best['images_per_s']:.1f} images/s "
            f"({best['runtime']}, batch {best['batch']})"
        )
    if args.json:
        args.json.write_text(json.dumps({"models": [str(m) for m in args.model], "rows": rows}, indent=2))
    return 0
