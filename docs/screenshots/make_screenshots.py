"""Regenerate the verdict screenshots of docs/gui.md and docs/verdicts.md on real stations under a real X server:

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python docs/screenshots/make_screenshots.py

(Debian: `apt-get install -y --no-install-recommends xvfb` and `make gui-libs`.) Each shot opens the real
operator window (`inspector gui`'s MainWindow) on a station config written to a temporary folder, with
synthetic cameras and the bundled demo model (assets/demo.onnx), lets it inspect for a while and grabs the
X screen:

- unsure.png: camera `side` under a failing lamp (its frames at 12 % brightness) with `[verdict]
  min_brightness = 40`: amber UNSURE badge with the reason `dark`, the UNSURE counter and gallery entries;
- self-test-failed.png: a golden sample whose expected verdict was tampered (OK -> NG): the SELF-TEST FAILED
  pill, the banner naming the sample, the engineer's self-test box with Acknowledge;
- drift.png: camera `top`'s parts get noisier after its first 230 frames (a dirty lens): the score strip with
  both cameras' control limits and the DRIFT alarm (the trend drawn 320 px high for the picture);
- shadow.png: a `[shadow]` candidate (the demo bundle at 0.88 x its threshold) beside production: the Shadow
  tab with its counts, agreement and latest disagreements.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inspector.bundle.session import load_bundle  # noqa: E402  (after the path is set)
from inspector.engine import Engine  # noqa: E402
from inspector.gui.app import make_app, screenshot  # noqa: E402
from inspector.gui.main_window import MainWindow  # noqa: E402
from inspector.live.config import load_config  # noqa: E402
from inspector.live.golden import GoldenSet  # noqa: E402
from inspector.live.sources.synthetic import SyntheticSource  # noqa: E402
from inspector.operator.review import ReviewQueue  # noqa: E402
from inspector.operator.settings import EngineerLock, Settings  # noqa: E402
from inspector.operator.station import LiveStation  # noqa: E402
from inspector.synthetic import make_part  # noqa: E402

DEMO = REPO / "assets" / "demo.onnx"
OUT = Path(__file__).resolve().parent
PIN = "000000"
HEAD = """schema_version = 1
station = "{station}"

[model]
path = "{model}"
threads = 1

[storage]
data_dir = "{data}"
"""
CAMERA = """
[[cameras]]
id = "{id}"
source = {{ kind = "synthetic", fps = {fps}, size = 128, ng_rate = {ng_rate}, seed = {seed} }}
"""


class Dimmed(SyntheticSource):
    """The synthetic line under a failing lamp: every frame at 12 % of its brightness."""

    def read(self) -> np.ndarray:
        return (super().read() * 0.12).astype(np.uint8)


class Drifting(SyntheticSource):
    """The synthetic line whose frames get noisier after `after` frames (a lens getting dirty): scores rise."""

    def __init__(self, *, after: int, noise: float, **settings: Any) -> None:
        super().__init__(**settings)
        self.after, self.noise, self._n = after, noise, 0
        self._rng = np.random.default_rng(7)

    def read(self) -> np.ndarray:
        frame = super().read()
        self._n += 1
        if self._n <= self.after:
            return frame
        noisy = frame.astype(np.float32) + self._rng.normal(0.0, self.noise, frame.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)


def station_file(folder: Path, name: str, cameras: list[dict[str, Any]], extra: str = "") -> Path:
    text = HEAD.format(station=name, model=DEMO, data=folder / "data")
    text += "".join(CAMERA.format(**{"fps": 8, "ng_rate": 0.15, "seed": 0, **cam}) for cam in cameras)
    path = folder / "station.toml"
    path.write_text(text + extra)
    return path


def open_window(config_path: Path, factories: dict[str, Callable[[], SyntheticSource]] | None = None) -> MainWindow:
    """The operator window on the station, as `inspector gui --config` opens it (engineer PIN 000000)."""
    config = load_config(config_path)
    settings = Settings(config_path.parent / "gui.json")
    settings.set_pin(PIN)
    station = LiveStation(config, source_factories=factories, disk_paths=[config.data_dir])
    window = MainWindow(station, EngineerLock(settings, timeout_s=3600), ReviewQueue(config.data_dir / "review"))
    window.show_fitted()
    station.start()
    return window


def run_for(seconds: float, until: Callable[[], bool] | None = None, *, at_most: float = 120.0) -> None:
    """Let the event loop run `seconds` (or, with `until`, until it holds and then `seconds` more)."""
    app = make_app()
    start = time.monotonic()
    if until is not None:
        while not until() and time.monotonic() - start < at_most:
            app.processEvents()
            time.sleep(0.02)
        if not until():
            raise SystemExit(f"gave up after {at_most:.0f} s: the state to photograph did not come")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(window: MainWindow, name: str) -> None:
    path = OUT / name
    screenshot(window, path)  # the X screen, then the window closes (and stops its station)
    run_for(0.5)
    print(f"wrote {path.relative_to(REPO)}")


def unlock(window: MainWindow, tab: Any) -> None:
    window.lock.unlock(PIN)
    window.slow_tick()
    window.tabs.setCurrentWidget(tab)


def shot_unsure(folder: Path) -> None:
    path = station_file(
        folder, "line-1", [{"id": "top"}, {"id": "side", "seed": 1}], "\n[verdict]\nmin_brightness = 40\n"
    )
    window = open_window(path, {"side": lambda: Dimmed(fps=8, size=128, ng_rate=0.15, seed=1)})
    run_for(12, lambda: window.station.stats.cameras["side"].counts.unsure >= 3)
    shoot(window, "unsure.png")


def shot_self_test_failed(folder: Path) -> None:
    engine = Engine(load_bundle(DEMO, threads=1))
    golden = GoldenSet(folder / "data" / "golden")
    wanted = [("OK", "good-01.png"), ("OK", "good-02.png"), ("NG", "defect-01.png")]
    for seed in range(100):
        part = make_part(np.random.default_rng(seed), size=(128, 128)).image
        verdict = engine.inspect([part])[0].verdict.value
        match = next((w for w in wanted if w[0] == verdict), None)
        if match is None:
            continue
        wanted.remove(match)
        image = folder / match[1]
        cv2.imwrite(str(image), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
        golden.add(image, verdict, engine)
        if not wanted:
            break
    manifest = json.loads(golden.manifest.read_text())
    for sample in manifest["samples"]:
        if sample["name"] == "good-02.png":
            sample["expect"] = "NG"  # tampered: the station must notice before the line runs
    golden.manifest.write_text(json.dumps(manifest))
    window = open_window(station_file(folder, "line-2", [{"id": "top"}, {"id": "side", "seed": 1}]))
    run_for(1, lambda: window.station.phase.value == "SELF-TEST FAILED")
    unlock(window, window.engineer)
    scroll = window.engineer.widget(1)
    run_for(6)
    scroll.ensureWidgetVisible(window.engineer.self_test_box)  # type: ignore[attr-defined]
    run_for(1)
    shoot(window, "self-test-failed.png")


def shot_drift(folder: Path) -> None:
    path = station_file(
        folder, "line-3", [{"id": "top", "fps": 15, "ng_rate": 0.02}, {"id": "side", "seed": 1, "ng_rate": 0.02}]
    )
    window = open_window(path, {"top": lambda: Drifting(after=230, noise=2.5, fps=15, size=128, ng_rate=0.02, seed=0)})
    window.trend.setMinimumHeight(320)  # the trend strip at a readable height for the picture (130-150 px live)
    window.trend.setMaximumHeight(320)
    run_for(15, lambda: bool(window.station.drift.get("top") and window.station.drift["top"].alarms), at_most=150)
    shoot(window, "drift.png")


def shot_shadow(folder: Path) -> None:
    threshold = 0.88 * Engine(load_bundle(DEMO, threads=1)).threshold
    extra = f'\n[shadow]\nmodel = "{DEMO}"\nthreshold = {threshold:.3f}\n'
    window = open_window(station_file(folder, "line-4", [{"id": "top"}, {"id": "side", "seed": 1}], extra))
    unlock(window, window.shadow_panel)
    run_for(20, lambda: window.station.phase.value == "RUNNING")
    shoot(window, "shadow.png")


SHOTS = {"unsure": shot_unsure, "self-test-failed": shot_self_test_failed, "drift": shot_drift, "shadow": shot_shadow}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shots", nargs="*", help=f"which of {', '.join(SHOTS)} (default: all four)")
    args = parser.parse_args()
    if unknown := [name for name in args.shots if name not in SHOTS]:
        parser.error(f"unknown shot {', '.join(unknown)}: choose from {', '.join(SHOTS)}")
    make_app()
    for name in args.shots or SHOTS:
        with tempfile.TemporaryDirectory(prefix=f"inspector-shot-{name}-") as tmp:
            SHOTS[name](Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
