"""`inspector demo`: the bundled demo model inspecting a synthetic production line, no config or data needed."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path

from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.synthetic import SyntheticLine


def demo_bundle_path() -> Path:
    path = Path(str(resources.files("inspector.assets") / "demo.onnx"))
    if not path.is_file():
        raise InspectorError(
            f"the demo bundle {path} is missing", "rebuild it: make demo-model (python scripts/make_demo.py)"
        )
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="print verdicts in the terminal instead of the GUI")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to run (headless)")
    parser.add_argument("--parts", type=int, default=None, help="stop after this many parts")
    parser.add_argument("--fps", type=float, default=10.0, help="parts per second on the synthetic line")
    parser.add_argument("--model", type=Path, default=None, help="another bundle instead of the demo one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="print only the final counts")


def _gui(args: argparse.Namespace) -> int | None:
    """Open the GUI (imported lazily: PySide6 is the `gui` extra); None when it cannot be shown here."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):
        print("demo: no display found, running headless (--headless skips this check)", file=sys.stderr)
        return None
    try:
        app = importlib.import_module("inspector.gui.app")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("PySide6"):
            raise
        print("demo: the GUI needs PySide6 (pip install 'inspector[gui]'), running headless", file=sys.stderr)
        return None
    if problem := app.display_problem():  # a missing X11 library would abort inside Qt (exit 134)
        print(f"demo: {problem}. Running headless meanwhile.", file=sys.stderr)
        return None
    return int(app.run_demo(args, args.model or demo_bundle_path()))


def run(args: argparse.Namespace) -> int:
    if not args.headless and (code := _gui(args)) is not None:
        return code
    bundle = load_bundle(args.model or demo_bundle_path())
    engine = Engine(bundle)
    size = bundle.input_size
    line = SyntheticLine(seed=args.seed, size=size, ng_rate=0.2)
    print(f"demo: {bundle.path.name} ({bundle.metadata.method}, threshold {engine.threshold:.3f}) on a synthetic line")
    counts: Counter[str] = Counter()
    agree = 0
    start = time.monotonic()
    period = 1.0 / args.fps if args.fps > 0 else 0.0
    n = 0
    while time.monotonic() - start < args.seconds and (args.parts is None or n < args.parts):
        part = next(line)
        result = engine.inspect([part.image])[0]
        n += 1
        counts[result.verdict.value] += 1
        truth = "OK" if part.label == "good" else "NG"
        agree += truth == result.verdict.value
        if not args.quiet:
            print(
                f"part {n:5d}  {result.verdict.value}  score {result.score:8.3f}  truth {truth} ({part.label})"
                f"  {result.timings_ms['inference']:.1f} ms"
            )
        time.sleep(max(0.0, start + n * period - time.monotonic()))
    elapsed = time.monotonic() - start
    yield_pct = 100.0 * counts["OK"] / n if n else 0.0
    print(
        f"inspected {n} parts in {elapsed:.1f} s: {counts['OK']} OK, {counts['NG']} NG, yield {yield_pct:.1f}%, "
        f"verdict agrees with truth on {agree}/{n}"
    )
    return 0
