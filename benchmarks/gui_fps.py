"""Operator GUI benchmark: 2 synthetic cameras at 30 FPS with the demo bundle, in the real window.

Measures, per camera, the frames the pipeline inspected and the frames the GUI drew per second, the
capture-to-verdict latency, and the UI input latency: a thread posts a key event to the window every
20 ms and an event filter records how long each waited before the UI thread handled it.

Usage (a real X screen; offscreen works too):
    xvfb-run -a -s "-screen 0 1366x768x24" python benchmarks/gui_fps.py [--seconds 30] [--fps 30]
Prints a markdown table (docs/benchmarks.md, "Operator GUI (issue 6)").
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent

from inspector.demo import demo_bundle_path
from inspector.gui.app import make_app, open_window
from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.review import ReviewQueue
from inspector.operator.settings import Settings

PROBE_KEY = Qt.Key_F24  # bound to nothing


class InputProbe(QObject):
    """Posts key events from a thread; the filter on the window measures their wait in the UI queue."""

    def __init__(self, target: QObject, interval_s: float = 0.02) -> None:
        super().__init__()
        self.target, self.interval_s = target, interval_s
        self.posted: deque[float] = deque()
        self.waits_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._post, name="input-probe", daemon=True)
        target.installEventFilter(self)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.target.removeEventFilter(self)

    def _post(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.posted.append(time.perf_counter())
            QCoreApplication.postEvent(self.target, QKeyEvent(QEvent.KeyPress, PROBE_KEY, Qt.NoModifier))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.KeyPress and event.key() == PROBE_KEY and self.posted:
            self.waits_ms.append((time.perf_counter() - self.posted.popleft()) * 1000)
            return True
        return False


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--cameras", type=int, default=2)
    args = parser.parse_args()

    app = make_app()
    cameras = [source_camera("synthetic", fps=args.fps, cam_id=f"cam{i + 1}", seed=i) for i in range(args.cameras)]
    config = single_camera_config(demo_bundle_path(), cameras, station="bench")
    with tempfile.TemporaryDirectory() as tmp:
        window = open_window(config, Settings(None), ReviewQueue(Path(tmp) / "review"))
        probe = InputProbe(window)
        marks: dict[str, tuple] = {}
        latency: dict[str, list[float]] = {c: [] for c in window.views}  # capture -> verdict (pipeline)
        age: dict[str, list[float]] = {c: [] for c in window.views}  # capture -> handed to the view
        drain = window.station.update

        def update() -> list:
            records = drain()
            if "start" in marks and "end" not in marks:
                now = time.time()
                for r in records:
                    latency[r.camera].append(r.timings_ms["total"])
                    age[r.camera].append((now - r.captured_at) * 1000)
            return records

        window.station.update = update

        def begin() -> None:
            stats = window.station.stats
            marks["start"] = (
                time.perf_counter(),
                {c: v.frames_shown for c, v in window.views.items()},
                {c: stats.cameras[c].counts.inspected for c in window.views},
                resource.getrusage(resource.RUSAGE_SELF),
            )
            marks["dropped0"] = window.station.pipeline.snapshot().cameras
            probe.start()

        def end() -> None:
            stats = window.station.stats
            marks["end"] = (
                time.perf_counter(),
                {c: v.frames_shown for c, v in window.views.items()},
                {c: stats.cameras[c].counts.inspected for c in window.views},
                resource.getrusage(resource.RUSAGE_SELF),
            )
            marks["dropped"] = window.station.pipeline.snapshot().cameras
            probe.stop()
            QCoreApplication.sendPostedEvents(window, QEvent.KeyPress)  # deliver the last probes before closing
            window.close()

        QTimer.singleShot(int(args.warmup * 1000), begin)
        QTimer.singleShot(int((args.warmup + args.seconds) * 1000), end)
        app.exec()

    (t0, shown0, insp0, ru0), (t1, shown1, insp1, ru1) = marks["start"], marks["end"]
    span = t1 - t0
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / span
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores (shared), "
        f"Qt platform {app.platformName()}, load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"{args.cameras} synthetic cameras at {args.fps:g} FPS, demo bundle, {span:.0f} s after {args.warmup:g} s "
        f"warm-up; process CPU {cpu * 100:.0f}% of one core\n"
    )
    print(
        "| camera | source FPS | inspected FPS | displayed FPS | frames dropped | capture→verdict p50 / p95 (ms) "
        "| capture→drawn p50 / p95 (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for cam in window_cams(marks):
        lat, shown_age = latency[cam], age[cam]
        dropped = marks["dropped"][cam].dropped - marks["dropped0"][cam].dropped
        inspected, shown = (insp1[cam] - insp0[cam]) / span, (shown1[cam] - shown0[cam]) / span
        print(
            f"| {cam} | {args.fps:g} | {inspected:.1f} | {shown:.1f} | {dropped} | {statistics.median(lat):.0f} / "
            f"{pct(lat, 95):.0f} | {statistics.median(shown_age):.0f} / {pct(shown_age, 95):.0f} |"
        )
    waits = probe.waits_ms
    print(
        f"\nUI input latency (posted key event -> handled), {len(waits)} events: "
        f"p50 {pct(waits, 50):.1f} ms, p95 {pct(waits, 95):.1f} ms, p99 {pct(waits, 99):.1f} ms, "
        f"max {max(waits):.1f} ms",
        flush=True,
    )


def window_cams(marks: dict) -> list[str]:
    return list(marks["start"][1])  # the cameras, in window order


if __name__ == "__main__":
    main()
