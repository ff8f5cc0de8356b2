"""Recipes, changeover and lots (issue 13 items 2-3): a real station (real onnxruntime bundles, real HTTP sink on
127.0.0.1, real SQLite log), the real `inspector recipe|lot|report` command lines, the real audit trail."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_tiny_bundle
from conftest_services import free_port, wait_until

from inspector.audit import AuditLog
from inspector.live.camera import Frame
from inspector.live.config import ConfigError, load_config
from inspector.live.handshake import ErrorCode
from inspector.live.station import Station, build_station

pytestmark = pytest.mark.timeout(120)


def write(folder: Path, tiny: Path, extra: str = "", *, top: str = 'recipe = "A"', sinks: str = "") -> Path:
    make_tiny_bundle(folder / "b.onnx", threshold=0.2)
    bad = folder / "bad.onnx"
    shutil.copy(tiny, bad)
    shutil.copy(f"{tiny}.sha256", f"{bad}.sha256")
    bad.write_bytes(bad.read_bytes() + b"\0")  # tampered: its checksum no longer matches
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "rec"
{top}
[model]
path = "{tiny}"
[[cameras]]
id = "cam"
trigger = "mqtt"
[cameras.source]
kind = "synthetic"
size = 64
[recipes.A]
model = "{tiny}"
description = "product A"
[recipes.B]
model = "b.onnx"
[recipes.B.cameras.cam]
roi = [0, 0, 32, 32]
[recipes.bad]
model = "bad.onnx"
{extra}
{sinks}''')
    return path


def inspect_one(station: Station, value: int = 180) -> dict:
    """One frame through the station's pipeline (on this thread); its SQLite-free record summary."""
    got: list = []
    station.pipeline.sinks.append(type("Tap", (), {"submit": lambda self, r: got.append(r)})())
    try:
        image = np.full((64, 64, 3), 128, np.uint8)
        image[40, 40] = value  # outside recipe B's ROI [0, 0, 32, 32]
        station.pipeline.offer(
            Frame(camera="cam", frame_id=1, image=image, captured_at=0.0, captured_mono=0.0, capture_ms=0.0)
        )
        station.pipeline.step()
    finally:
        station.pipeline.sinks.pop()
    return got[0].summary() | {"roi": got[0].roi}


def test_a_recipe_is_verified_before_the_switch_and_every_request_is_audited(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    station = build_station(load_config(write(tmp_path, tiny_bundle_path)), config_sinks=False)
    change = station.changeover
    first = inspect_one(station)
    assert (first["recipe"], first["verdict"], first["roi"]) == ("A", "OK", None)  # |180/255 - 0.5| = 0.206
    model_a = station.engine.fingerprint
    unknown = change.select("Z", who="alice")
    tampered = change.select("bad", who="alice", why="try")
    assert (unknown.error_code, tampered.error_code) == (ErrorCode.UNKNOWN_RECIPE, ErrorCode.RECIPE_REFUSED)
    assert "differs from its sidecar" in tampered.error_text
    assert (station.recipe, station.engine.fingerprint, tampered.recipe) == ("A", model_a, "A")  # old one kept
    assert inspect_one(station)["recipe"] == "A"
    switched = change.select("B", who="alice", why="changeover to B")
    assert switched.ok and switched.change_id == 3 and station.recipe == "B"
    lot = change.set_lot("L-42", who="bob")
    assert lot.ok and change.set_lot("x" * 65, who="bob").error_code is ErrorCode.BAD_LOT_ID
    after = inspect_one(station)
    assert (after["recipe"], after["lot"], after["roi"]) == ("B", "L-42", (0, 0, 32, 32))  # B's ROI
    assert after["model"] != model_a and after["threshold"] == pytest.approx(0.2)
    audit = AuditLog(tmp_path / "audit.jsonl")
    assert [(e["action"], e["target"], e["who"]) for e in audit.entries()] == [
        ("recipe_refused", "Z", "alice"),
        ("recipe_refused", "bad", "alice"),
        ("recipe", "B", "alice"),
        ("lot", "lot", "bob"),
    ]
    assert audit.verify() == (4, None)


def test_first_frame_verdicts_follow_the_threshold_of_the_recipe(tmp_path: Path, tiny_bundle_path: Path) -> None:
    station = build_station(load_config(write(tmp_path, tiny_bundle_path)), config_sinks=False)
    assert inspect_one(station, 200)["verdict"] == "OK"  # |200/255 - 0.5| = 0.284 < 0.3 (A)
    assert station.changeover.select("B", who="t").ok
    assert inspect_one(station, 200)["verdict"] == "OK"  # B inspects [0, 0, 32, 32]: the pixel is outside
    station.changeover.select("A", who="t")
    assert inspect_one(station, 230)["verdict"] == "NG"  # 0.402 > 0.3


@pytest.mark.parametrize(
    ("top", "extra", "message"),
    [
        ('recipe = "nope"', "", "recipe: no recipe 'nope'"),
        (
            'recipe = "A"',
            '[recipes.C]\nmodel = "b.onnx"\n[recipes.C.cameras.side]\nroi = [0, 0, 9, 9]',
            "recipes.C.cameras.side: no camera 'side' in this station",
        ),
        ('recipe = "A"', '[recipes.D]\nmodel = "missing.onnx"', "missing.onnx not found"),
    ],
)
def test_bad_recipe_config_names_the_field(
    tmp_path: Path, tiny_bundle_path: Path, top: str, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(write(tmp_path, tiny_bundle_path, extra, top=top))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_selects_recipes_and_lots_on_a_running_station_and_reports_the_lot(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    port = free_port()
    sinks = f'[sinks.http]\nport = {port}\n[sinks.sqlite]\npath = "log.db"\nsave_ok_every = 0\n'
    config = write(tmp_path, tiny_bundle_path, sinks=sinks)
    station = build_station(load_config(config))
    station.start()
    try:
        assert wait_until(station.pipeline.cameras_up, 10)
        listed = cli("recipe", "list", "--config", str(config))
        assert listed.returncode == 0 and "* A" in listed.stdout and "product A" in listed.stdout
        refused = cli("recipe", "select", "bad", "--config", str(config), "--who", "carol")
        assert (
            refused.returncode == 1 and "error 108" in refused.stderr and "still running: recipe 'A'" in refused.stderr
        )
        assert cli("lot", "set", "LOT-1", "--url", f"http://127.0.0.1:{port}").returncode == 0
        for n in range(1, 4):
            station.pipeline.trigger("cam")
            assert wait_until(lambda n=n: station.snapshot().frames >= n, 10)
        chosen = cli("recipe", "select", "B", "--config", str(config), "--why", "product B", "--json")
        assert chosen.returncode == 0 and json.loads(chosen.stdout)["recipe"] == "B"
        assert cli("lot", "set", "LOT-2", "--config", str(config)).returncode == 0
        for n in range(4, 6):
            station.pipeline.trigger("cam")
            assert wait_until(lambda n=n: station.snapshot().frames >= n, 10)
        shown = cli("lot", "show", "--config", str(config))
        assert "lot: LOT-2  recipe: B" in shown.stdout
    finally:
        station.stop(5.0)
    with sqlite3.connect(tmp_path / "log.db") as db:
        assert set(db.execute("SELECT lot, recipe FROM inspections")) == {("LOT-1", "A"), ("LOT-2", "B")}
    report = cli("report", "--db", str(tmp_path / "log.db"), "--format", "json")
    rows = {row["key"]: row for row in json.loads(report.stdout)}
    assert rows["LOT-1"]["parts"] >= 3 and rows["LOT-2"]["parts"] >= 2
    for row in rows.values():
        assert row["ok"] + row["ng"] + row["unsure"] == row["parts"]
        assert row["yield_pct"] == pytest.approx(100 * row["ok"] / row["parts"], abs=1e-3)
    table = cli("report", "--db", str(tmp_path / "log.db"), "--lot", "LOT-2", "--by", "recipe")
    assert table.returncode == 0 and "\nB " in table.stdout and "LOT-1" not in table.stdout
    missing = cli("report", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2 and "no inspection log there" in missing.stderr
    who = [e["who"] for e in AuditLog(tmp_path / "audit.jsonl").entries()]
    assert who[0] == "http:carol" and len(who) == 4  # refused bad, lot 1, B, lot 2


def test_a_recipe_changes_camera_settings_reopening_only_that_camera_while_sinks_keep_running(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    extra = '[recipes.C]\nmodel = "b.onnx"\n[recipes.C.cameras.cam]\nsource = { size = 96 }'
    path = write(tmp_path, tiny_bundle_path, extra, sinks='[sinks.sqlite]\npath = "log.db"')
    config = load_config(path)
    station = build_station(config)
    got: list = []
    tap = type("Tap", (), {"submit": lambda self, r: got.append(r), "start": lambda self: None})()
    station.start()
    try:
        station.pipeline.sinks.append(tap)
        sqlite_sink = next(s for s in station.sinks if s.kind == "sqlite")

        def one_frame() -> tuple[int, int]:
            got.clear()
            wait_until(lambda: bool(station.pipeline.trigger("cam")), timeout=20)
            wait_until(lambda: bool(got), timeout=20)
            return got[-1].image.shape[:2]

        assert one_frame() == (64, 64)
        before = station.pipeline.cameras["cam"]
        assert station.changeover.select("C", who="t").ok
        after = station.pipeline.cameras["cam"]
        assert after is not before and after.config.source["size"] == 96 and before.state.value == "STOPPED"
        assert one_frame() == (96, 96)  # the camera reopened with the recipe's setting
        assert station.changeover.select("A", who="t").ok  # back to the camera's own [cameras.source]
        assert one_frame() == (64, 64)
        station.pipeline.sinks.remove(tap)
        wait_until(lambda: sqlite_sink.snapshot().written >= 3, timeout=20)
        assert station.sinks[0] is sqlite_sink and station.pipeline.not_ready() == []  # the sinks never restarted
    finally:
        if tap in station.pipeline.sinks:
            station.pipeline.sinks.remove(tap)
        station.stop()
    rows = sqlite3.connect(tmp_path / "log.db").execute("SELECT recipe FROM inspections ORDER BY rowid").fetchall()
    assert [r[0] for r in rows][-3:] == ["A", "C", "A"]


def test_a_recipe_camera_setting_its_kind_refuses_is_named_at_load(tmp_path: Path, tiny_bundle_path: Path) -> None:
    extra = '[recipes.C]\nmodel = "b.onnx"\n[recipes.C.cameras.cam]\nsource = { size = 3 }'
    with pytest.raises(ConfigError, match=r"recipes\.C\.cameras: camera 'cam': size"):
        load_config(write(tmp_path, tiny_bundle_path, extra))
