"""Memory footprint of a real `inspector daemon` process with one 30 FPS camera, beside the install sizes.

Usage: python benchmarks/footprint.py --model model.onnx [--seconds 40] [--fps 30] [--sqlite]
Writes a station config (one synthetic camera, the HTTP health sink on a free port, optionally the
SQLite sink), starts the daemon as its own process, samples its VmRSS every 0.5 s after a 5 s warm-up,
and reads the frames inspected from /metrics. Prints the daemon's steady RSS (median), peak (VmHWM),
CPU % and inspected FPS, then the size on disk of each runtime package. Markdown tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUNTIME_PACKAGES = (
    "onnxruntime",
    "cv2",
    "numpy",
    "PIL",
    "pydantic",
    "pydantic_core",
    "prometheus_client",
    "cryptography",
    "inspector",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frames(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^inspector_frames_total(\{[^}]*\})?\s+([0-9.e+]+)", line)
        if match:
            total += float(match.group(2))
    return total


def config(model: Path, work: Path, port: int, fps: float, sqlite: bool) -> Path:
    text = f"""schema_version = 1
station = "footprint"
[model]
path = "{model.resolve()}"
threads = 2
[[cameras]]
id = "cam0"
max_fps = {fps}
reject_repeats = false
[cameras.source]
kind = "synthetic"
fps = {fps}
size = 256
pool = 64
[sinks.http]
host = "127.0.0.1"
port = {port}
[storage]
data_dir = "{work}"
"""
    if sqlite:
        text += '[sinks.sqlite]\npath = "inspections.db"\nimage_dir = "images"\nsave_ok_every = 100\n'
    path = work / "station.toml"
    path.write_text(text)
    return path


def measure(model: Path, seconds: float, fps: float, sqlite: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        port = _free_port()
        cfg = config(model, Path(tmp), port, fps, sqlite)
        proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "daemon", "--config", str(cfg), "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(5.0)
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited ({proc.returncode}): {proc.stderr.read()[-2000:]}")
            frames0, cpu0, wall0 = _frames(port), _cpu_seconds(proc.pid), time.monotonic()
            rss = []
            while time.monotonic() - wall0 < seconds:
                rss.append(_status(proc.pid, "VmRSS"))
                time.sleep(0.5)
            frames1, cpu1, wall1 = _frames(port), _cpu_seconds(proc.pid), time.monotonic()
            peak = _status(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(10)
    elapsed = wall1 - wall0
    return {
        "rss_median": statistics.median(rss),
        "rss_max": max(rss),
        "peak": peak,
        "cpu": (cpu1 - cpu0) / elapsed * 100,
        "fps": (frames1 - frames0) / elapsed,
    }


def _size_mb(package: str) -> float:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return float("nan")
    root = Path(spec.origin).parent
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    libs = root.parent / f"{package}.libs"  # wheels' bundled shared libraries (numpy.libs, opencv ...)
    if libs.is_dir():
        total += sum(p.stat().st_size for p in libs.rglob("*") if p.is_file())
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--sqlite", action="store_true", help="also run the SQLite sink (NG images saved)")
    args = parser.parse_args()
    print(
        f"# {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}, "
        f"one synthetic {args.fps:g} FPS 256 px camera, HTTP sink{', SQLite sink' if args.sqlite else ''}"
    )
    print(
        "| bundle | bundle MB | inspected FPS | daemon RSS MB (median / max) | peak RSS (VmHWM) MB "
        "| CPU % (100 = one core) |"
    )
    print("|---|---|---|---|---|---|")
    for model in args.model:
        r = measure(model, args.seconds, args.fps, args.sqlite)
        print(
            f"| {model.name} | {model.stat().st_size / 1e6:.1f} | {r['fps']:.1f} "
            f"| {r['rss_median']:.0f} / {r['rss_max']:.0f} "
            f"| {r['peak']:.0f} | {r['cpu']:.0f} |",
            flush=True,
        )
    print("\n| runtime package | installed MB |\n|---|---|")
    sizes = {p: _size_mb(p) for p in RUNTIME_PACKAGES}
    for package, size in sizes.items():
        print(f"| {package} | {size:.1f} |")
    print(f"| **total** | **{sum(v for v in sizes.values() if v == v):.1f}** |")


if __name__ == "__main__":
    main()
