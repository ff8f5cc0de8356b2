"""Golden samples per recipe (issue 13 item 2): a recipe's own set in `<data_dir>/golden/<recipe>/`, added with
the real `inspector golden add --recipe` command line, runs after a changeover to it on a real station (real
onnxruntime tiny bundle, the real PLC handshake); a flipped sample blocks with the recipe named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from conftest_services import wait_until
from test_golden import parts

from inspector.live.config import ConfigError, load_config
from inspector.live.handshake import ErrorCode, ResultCode
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(120)


def write(folder: Path, tiny: Path, *, b_threshold: float, extra: str = "") -> Path:
    """Recipes A (the tiny bundle, threshold 0.3) and B (the same bundle at `b_threshold`)."""
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "rg"
recipe = "A"
[model]
path = "{tiny}"
[[cameras]]
id = "cam"
trigger = "mqtt"
[cameras.source]
kind = "synthetic"
size = 64
[sinks.plc]
[recipes.A]
model = "{tiny}"
[recipes.B]
model = "{tiny}"
threshold = {b_threshold}
{extra}''')
    return path


def golden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "golden", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_changeover_to_a_recipe_whose_golden_sample_flips_blocks_naming_the_recipe(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    good, bad = parts(tmp_path / "src")  # scores ~0.002 and ~0.5
    path = write(tmp_path, tiny_bundle_path, b_threshold=0.3)
    for recipe, image, expect in (("A", good, "OK"), ("B", bad, "NG")):
        added = golden("add", str(image), "--expect", expect, "--recipe", recipe, "--config", str(path))
        assert added.returncode == 0, added.stderr
    listed = golden("list", "--recipe", "B", "--json", "--config", str(path))
    assert [s["name"] for s in json.loads(listed.stdout)] == ["scratch.png"]
    assert golden("list", "--config", str(path)).returncode == 2  # the station's own set is empty

    config = load_config(write(tmp_path, tiny_bundle_path, b_threshold=0.6))  # B edited: the scratch passes now
    station = build_station(config)
    station.start()
    try:
        assert station.self_test.last is not None and station.self_test.last.recipe == "A"
        assert wait_until(lambda: station.snapshot().ready, 10), station.snapshot().not_ready
        outcome = station.changeover.select("B", who="eng-anna", why="order 7781")
        assert outcome.ok and station.recipe == "B"  # taken: the changed verdict is the finding
        assert station.snapshot().not_ready == ("golden self-test failed (recipe B): scratch.png expected NG got OK",)
        refused = station.context.handshake.trigger("cam", "P-1")
        assert refused.code is ResultCode.ERROR and refused.error_code is ErrorCode.SELF_TEST_FAILED
        assert "recipe B" in refused.error_text and "scratch.png" in refused.error_text
        assert station.changeover.select("A", who="eng-anna").ok  # A's own set passes: the block is cleared
        assert station.snapshot().ready and station.context.handshake.trigger("cam", "P-2") is None
    finally:
        station.stop(5.0)
    runs = {
        name: [json.loads(line) for line in (config.data_dir / "golden" / name / "runs.jsonl").open()]
        for name in ("A", "B")
    }
    assert [(r["trigger"], r["passed"]) for r in runs["A"]] == [("start", True), ("recipe changeover", True)]
    assert [(r["trigger"], r["recipe"], r["passed"]) for r in runs["B"]] == [("recipe changeover", "B", False)]


def test_a_recipe_without_its_own_set_runs_the_stations_set(tmp_path: Path, tiny_bundle_path: Path) -> None:
    good, _ = parts(tmp_path / "src")
    path = write(tmp_path, tiny_bundle_path, b_threshold=0.001)  # B judges every part NG
    assert golden("add", str(good), "--expect", "OK", "--config", str(path)).returncode == 0
    station = build_station(load_config(path))
    station.start()
    try:
        assert wait_until(lambda: station.snapshot().ready, 10), station.snapshot().not_ready
        assert station.changeover.select("B", who="eng").ok
        assert station.snapshot().not_ready == ("golden self-test failed: good.png expected OK got NG",)
    finally:
        station.stop(5.0)


def test_bad_recipe_input_is_named(tmp_path: Path, tiny_bundle_path: Path) -> None:
    good, _ = parts(tmp_path / "src")
    path = write(tmp_path, tiny_bundle_path, b_threshold=0.3)
    wrong = golden("add", str(good), "--expect", "OK", "--recipe", "C", "--config", str(path))
    assert wrong.returncode == 2 and "--recipe C: no [recipes.C]" in wrong.stderr and "Traceback" not in wrong.stderr
    flipped = golden("add", str(good), "--expect", "NG", "--recipe", "B", "--config", str(path))
    assert flipped.returncode == 2 and "judges it OK" in flipped.stderr
    listed = write(tmp_path, tiny_bundle_path, b_threshold=0.3, extra='golden = ["good.png"]')
    with pytest.raises(ConfigError, match="golden samples are not listed") as caught:
        load_config(listed)
    assert "--recipe" in str(caught.value)
