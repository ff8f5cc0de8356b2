"""Where onnxruntime spends a bundle's time, per operator type (its own profiler), for one or more bundles.

Usage: python benchmarks/profile_ops.py --model fp32.onnx --model int8.onnx [--batch 1,8] [--runs 30]
For each bundle and batch size: the optimised graph's node counts per operator type (did the QDQ pairs
fuse into QLinearConv / QLinearMatMul, or do DequantizeLinear -> Conv pairs remain?), and the kernel
time per image per operator type from `SessionOptions.enable_profiling` (each node's median over the
runs, so a run preempted by other work on a shared CPU does not count), largest first. The runs of the
bundles are interleaved, so load from elsewhere on the machine hits them alike. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from inspector.bundle.session import session_options


def _cpu_flags() -> str:
    """The SIMD flags of this CPU that decide which MLAS int8 kernels run."""
    try:
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
        ).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile")
    return " ".join(f for f in wanted if f in flags) or "none of avx2/avx512/vnni/amx"


def open_profiled(path: Path, work: Path, threads: int | None) -> tuple[ort.InferenceSession, dict[str, int]]:
    """A profiling session, and the node count per operator type of the graph onnxruntime runs."""
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(work / path.stem)
    optimized = work / f"{path.stem}.optimized.onnx"
    options.optimized_model_filepath = str(optimized)
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(optimized)).graph
    return session, dict(collections.Counter(n.op_type for n in graph.node))


def op_times(profile: Path, skip: int, batch: int) -> dict[str, float]:
    """Kernel milliseconds per image per operator type: each node's median over the timed runs (the first
    `skip` runs of the profile are the warm-up), summed per type. The median, not the sum, so that a run
    preempted by another job on a shared CPU does not inflate whichever node it hit."""
    events = json.loads(profile.read_text())
    per_node: dict[str, list[float]] = collections.defaultdict(list)
    op_of: dict[str, str] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_node[event["name"]].append(event["dur"] / 1000)
            op_of[event["name"]] = event["args"]["op_name"]
    totals: dict[str, float] = collections.defaultdict(float)
    for name, durations in per_node.items():
        totals[op_of[name]] += float(np.median(durations[skip:] or durations)) / batch
    return dict(totals)


def profile(models: list[Path], batches: list[int], runs: int, threads: int | None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="profile-ops-") as tmp:
        for batch in batches:
            work = Path(tmp) / f"b{batch}"
            work.mkdir()
            sessions = [(m, *open_profiled(m, work, threads)) for m in models]
            height, width = (int(d) for d in sessions[0][1].get_inputs()[0].shape[1:3])
            x = np.random.default_rng(0).integers(0, 256, (batch, height, width, 3), np.uint8)
            for _, session, _ in sessions:
                for _ in range(3):
                    session.run(None, {"image": x})  # warm-up (profiled too; subtracted below)
            wall: dict[Path, list[float]] = {m: [] for m in models}
            for _ in range(runs):  # interleaved
                for m, session, _ in sessions:
                    start = time.perf_counter()
                    session.run(None, {"image": x})
                    wall[m].append(time.perf_counter() - start)
            for m, session, counts in sessions:
                path = Path(session.end_profiling())
                times = op_times(path, 3, batch)
                rows.append(
                    {
                        "model": m.name,
                        "batch": batch,
                        "wall_ms_per_image": float(np.median(wall[m])) * 1000 / batch,
                        "op_ms_per_image": times,
                        "nodes": counts,
                    }
                )
    return rows


def format_tables(rows: list[dict], top: int) -> str:
    lines = []
    for batch in sorted({r["batch"] for r in rows}):
        group = [r for r in rows if r["batch"] == batch]
        ops = sorted(
            {op for r in group for op in r["op_ms_per_image"]},
            key=lambda op: -max(r["op_ms_per_image"].get(op, 0.0) for r in group),
        )[:top]
        lines.append(f"\nbatch {batch}: kernel ms per image (nodes in the optimised graph)\n")
        lines.append("| operator | " + " | ".join(r["model"] for r in group) + " |")
        lines.append("|---|" + "---|" * len(group))
        for op in ops:
            cells = [f"{r['op_ms_per_image'].get(op, 0.0):.2f} ({r['nodes'].get(op, 0)})" for r in group]
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
        lines.append(
            "| **all kernels** | " + " | ".join(f"**{sum(r['op_ms_per_image'].values()):.2f}**" for r in group) + " |"
        )
        lines.append(
            "| wall ms / image (median run, interleaved) | "
            + " | ".join(f"{r['wall_ms_per_image']:.2f}" for r in group)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=14, help="operator types to list")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    batches = [int(b) for b in args.batch.split(",")]
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, flags: {_cpu_flags()}, onnxruntime {ort.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}"
    )
    rows = profile(args.model, batches, args.runs, args.threads)
    print(format_tables(rows, args.top))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
