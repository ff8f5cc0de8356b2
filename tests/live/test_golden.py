"""Golden-sample self-test (issue 10 item 2): a real station (real onnxruntime tiny bundle, real HTTP sink on
127.0.0.1, the real PLC handshake), the real `inspector golden` command line and the real audit trail."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO
from conftest_services import free_port, wait_until

from inspector.audit import AuditLog
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.handshake import ErrorCode, ResultCode
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(120)


def write_config(folder: Path, bundle: Path, *, threshold: float | None = None, port: int = 0) -> Path:
    """A station on the tiny bundle (score = max |x/255 - 0.5|, threshold 0.3) with a PLC handshake."""
    model = f'path = "{bundle}"\n' + (f"threshold = {threshold}\n" if threshold is not None else "")
    http = f"[sinks.http]\nport = {port}\n" if port else ""
    path = folder / ("tampered.toml" if threshold is not None else "station.toml")
    path.write_text(f"""schema_version = 1
station = "gold"
[model]
{model}[[cameras]]
id = "cam"
trigger = "mqtt"
[cameras.source]
kind = "synthetic"
size = 64
[sinks.plc]
{http}""")
    return path


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)  # gray and white only: BGR or RGB alike
    return path


def parts(folder: Path) -> tuple[Path, Path]:
    """A good part (flat gray: score ~0.002) and a defective one (one white pixel: score ~0.5)."""
    good = np.full((64, 64, 3), 128, np.uint8)
    bad = good.copy()
    bad[20:22, 30:32] = 255
    folder.mkdir(parents=True, exist_ok=True)
    return write_image(folder / "good.png", good), write_image(folder / "scratch.png", bad)


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except urllib.error.URLError:  # the server is not listening yet
        return 0, {}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "golden", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_flipped_verdict_blocks_the_station_until_acknowledged(tmp_path: Path, tiny_bundle_path: Path) -> None:
    port = free_port()
    config = load_config(write_config(tmp_path, tiny_bundle_path, port=port))
    good, bad = parts(tmp_path / "src")
    engine = Engine(load_bundle(tiny_bundle_path, threads=1))
    golden = GoldenSet(config.data_dir / "golden")
    golden.add(good, "OK", engine)
    golden.add(bad, "NG", engine)

    station = build_station(config)  # the config as recorded: passes
    station.start()
    try:
        assert wait_until(lambda: readyz(port)[0] == 200, 10), readyz(port)
        assert station.self_test.last is not None and station.self_test.last.passed
    finally:
        station.stop(5.0)

    tampered = load_config(write_config(tmp_path, tiny_bundle_path, threshold=0.6, port=port))
    station = build_station(tampered)  # the threshold raised above the defect's score: NG -> OK
    station.start()
    try:
        assert wait_until(lambda: station.pipeline.cameras_up() and readyz(port)[0], 10)
        status, body = readyz(port)
        assert status == 503
        assert "golden self-test failed: scratch.png expected NG got OK" in body["reasons"]
        refused = station.context.handshake.trigger("cam", "P-1")  # the PLC sees why
        assert refused.code is ResultCode.ERROR and refused.error_code is ErrorCode.SELF_TEST_FAILED == 111
        assert "scratch.png expected NG got OK" in refused.error_text
        assert (config.data_dir / "golden" / "blocked.json").is_file()

        assert station.acknowledge_self_test(who="eng-anna", why="threshold raised on purpose")
        assert wait_until(lambda: readyz(port)[0] == 200, 5), readyz(port)
        assert station.context.handshake.trigger("cam", "P-2") is None  # accepted now
        assert not station.acknowledge_self_test(who="eng-anna")  # nothing left to acknowledge
    finally:
        station.stop(5.0)
    entry = [e for e in AuditLog(config.data_dir / "audit.jsonl").entries() if e["action"] == "golden_ack"]
    assert len(entry) == 1 and entry[0]["who"] == "eng-anna" and "expected NG got OK" in entry[0]["old"]
    runs = [json.loads(line) for line in (config.data_dir / "golden" / "runs.jsonl").read_text().splitlines()]
    assert [(r["trigger"], r["passed"]) for r in runs] == [("start", True), ("start", False)]
    assert {r["name"]: r["got"] for r in runs[1]["rows"]} == {"good.png": "OK", "scratch.png": "OK"}


def test_a_model_swap_reruns_the_self_test_and_the_cli_ack_clears_a_running_station(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    config = load_config(write_config(tmp_path, tiny_bundle_path))
    good, bad = parts(tmp_path / "src")
    station = build_station(config)
    golden = GoldenSet(config.data_dir / "golden")
    golden.add(good, "OK", station.engine)
    golden.add(bad, "NG", station.engine)
    station.start()
    try:
        assert wait_until(station.pipeline.cameras_up, 10)
        assert station.snapshot().ready
        running = station.engine
        station.swap_engine(Engine(running.bundle, threshold=0.001))  # now the good part is NG too
        reasons = station.snapshot().not_ready
        assert reasons == ("golden self-test failed: good.png expected OK got NG",)
        acked = cli("ack", "--config", str(config.path), "--who", "eng-bob", "--why", "checked")
        assert acked.returncode == 0 and "acknowledged: golden self-test failed" in acked.stdout
        assert wait_until(lambda: station.snapshot().ready, 5), station.snapshot().not_ready
        station.swap_engine(Engine(running.bundle, threshold=0.001))  # fails again, blocks again
        assert not station.snapshot().ready
        station.swap_engine(running)  # a passing run clears the block
        assert station.snapshot().ready
    finally:
        station.stop(5.0)
    assert [e["who"] for e in AuditLog(config.data_dir / "audit.jsonl").entries()] == ["eng-bob"]


def test_score_outside_tolerance_fails_only_under_the_recording_model(tmp_path: Path, tiny_bundle_path: Path) -> None:
    engine = Engine(load_bundle(tiny_bundle_path, threads=1))
    src = tmp_path / "src"
    image = np.full((64, 64, 3), 128, np.uint8)
    image[5, 5] = 180  # score |180/255 - 0.5| / 3 ~ 0.069 (the map is the channel mean)
    path = write_image(src / "mark.png", image)
    golden = GoldenSet(tmp_path / "golden")
    sample = golden.add(path, "OK", engine, tolerance=0.05)
    assert sample.tolerance == pytest.approx(0.05 * 0.3)
    image[5, 5] = 200  # same verdict, score moved by ~0.026 > 0.015
    write_image(tmp_path / "golden" / "mark.png", image)
    moved = golden.run(engine, trigger="test")
    assert not moved.passed and moved.rows[0].got == "OK" and "outside" in moved.rows[0].problem
    other = Engine(dataclasses.replace(engine.bundle, fingerprint="another-model"))  # scores not compared
    assert golden.run(other, trigger="test").passed


def test_cli_add_list_run_and_bad_input(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = write_config(tmp_path, tiny_bundle_path)
    tampered = write_config(tmp_path, tiny_bundle_path, threshold=0.6)
    good, bad = parts(tmp_path / "src")
    empty = cli("run", "--config", str(config))
    assert empty.returncode == 2 and "no golden samples" in empty.stderr and "golden add" in empty.stderr
    assert cli("add", str(good), "--expect", "ok", "--config", str(config)).returncode == 0
    added = cli("add", str(bad), "--expect", "NG", "--config", str(config))
    assert added.returncode == 0 and "added scratch.png: NG" in added.stdout
    wrong = cli("add", str(good), "--expect", "NG", "--config", str(config))
    assert wrong.returncode == 2 and "judges it OK" in wrong.stderr
    missing = cli("add", str(tmp_path / "nope.png"), "--expect", "OK", "--config", str(config))
    assert missing.returncode == 2 and "no such image file" in missing.stderr
    listed = cli("list", "--config", str(config))
    assert listed.returncode == 0 and "good.png" in listed.stdout and "scratch.png  NG" in listed.stdout
    assert {s["name"] for s in json.loads(cli("list", "--json", "--config", str(config)).stdout)} == {
        "good.png",
        "scratch.png",
    }
    passed = cli("run", "--config", str(config))
    assert passed.returncode == 0 and "golden self-test: PASS" in passed.stdout
    failed = cli("run", "--config", str(tampered))  # same data_dir, threshold 0.6
    assert failed.returncode == 1 and "FAIL (1 of 2)" in failed.stdout
    assert "scratch.png expected NG got OK" in failed.stdout
    manifest = json.loads((tmp_path / "golden" / "manifest.json").read_text())
    assert [s["expect"] for s in manifest["samples"]] == ["OK", "NG"]
    assert (tmp_path / "golden" / "good.png").read_bytes() == good.read_bytes()  # copied in
    assert len((tmp_path / "golden" / "runs.jsonl").read_text().splitlines()) == 2
    assert cli("ack", "--config", str(config)).stdout.startswith("nothing to acknowledge")
