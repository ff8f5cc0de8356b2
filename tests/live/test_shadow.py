"""Shadow mode (issue 10 item 4): a candidate bundle beside production on the same frames. Real tiny bundles
(production threshold 0.3, candidate 0.2, so a part scoring 0.25 is OK for one and NG for the other), a real
station with a folder camera, real files, the real golden set and audit trail, `inspector compare`'s reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_tiny_bundle
from conftest_services import free_port, wait_until
from test_golden import parts, write_image

from inspector.audit import AuditLog
from inspector.batch.compare import compare
from inspector.batch.store import read_rows
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.http import render_metrics
from inspector.live.record import FrameRecord
from inspector.live.shadow import Shadow
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(120)


def frames(folder: Path) -> dict[str, np.ndarray]:
    """good (a faint checker, not blank to the camera: score ~0.03), mid (one 2x2 patch at 192: score 0.253)
    and scratch (a white patch: ~0.5)."""
    good = np.full((64, 64, 3), 128, np.uint8)
    good[::3, ::3] = 136
    mid, bad = good.copy(), good.copy()
    mid[10:12, 10:12] = 192
    bad[20:22, 30:32] = 255
    images = {"a-good": good, "b-mid": mid, "c-scratch": bad}
    for name, image in images.items():
        write_image(folder / f"{name}.png", image)
    return images


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shadow-bundles")
    return make_tiny_bundle(root / "production.onnx", threshold=0.3), make_tiny_bundle(
        root / "candidate.onnx", threshold=0.2
    )


def write_config(folder: Path, production: Path, candidate: Path, *, shadow_threshold: float | None = None) -> Path:
    threshold = f"threshold = {shadow_threshold}\n" if shadow_threshold is not None else ""
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "shadowed"
[model]
path = "{production}"
[[cameras]]
id = "cam"
reject_repeats = false
max_fps = 200
[cameras.source]
kind = "folder"
path = "{folder / "line"}"
fps = 200
[shadow]
model = "{candidate}"
nice = 5
{threshold}''')
    return path


def test_disagreements_are_counted_and_stored_for_inspector_compare(tmp_path: Path, bundles: tuple[Path, Path]) -> None:
    production = Engine(load_bundle(bundles[0], threads=1))
    shadow = Shadow(Engine(load_bundle(bundles[1], threads=1)), tmp_path / "shadow", nice=0)
    images = frames(tmp_path / "line")
    for i, (name, image) in enumerate(images.items(), 1):
        result = production.inspect([image])[0]
        shadow.offer(FrameRecord("s", "cam", i, 1.0e9 + i, result, image=image, run="r1"))
        assert shadow.step() == {"a-good": "OK->OK", "b-mid": "OK->NG", "c-scratch": "NG->NG"}[name]
    record = FrameRecord(
        "s", "cam", 9, 2.0e9, production.inspect([images["b-mid"]])[0], image=images["b-mid"], run="r1"
    )
    shadow.offer(record)
    shadow.offer(record)  # the worker did not take the first: it is skipped, never waited for
    assert shadow.step() == "OK->NG" and shadow.step() is None
    snap = shadow.snapshot()
    assert (snap.offered, snap.agree, dict(snap.disagree), snap.skipped, snap.stored) == (5, 2, {"OK->NG": 2}, 1, 2)

    diffs, transitions = compare(
        read_rows(tmp_path / "shadow" / "production"), read_rows(tmp_path / "shadow" / "candidate")
    )
    assert transitions == {"OK->NG": 2}
    assert [d["part"] for d in diffs] == ["images/r1_cam_00000002.png", "images/r1_cam_00000009.png"]
    assert all((tmp_path / "shadow" / d["part"]).is_file() for d in diffs)
    assert diffs[0]["score_a"] == pytest.approx(0.2529, abs=1e-3) == diffs[0]["score_b"]
    text = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "compare",
            str(tmp_path / "shadow" / "production"),
            str(tmp_path / "shadow" / "candidate"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert text.returncode == 0 and "2 parts; 2 with a different verdict" in text.stdout, text.stderr


def test_a_live_station_compares_promotes_after_the_golden_test_and_rolls_back(
    tmp_path: Path, bundles: tuple[Path, Path]
) -> None:
    frames(tmp_path / "line")
    config = load_config(write_config(tmp_path, *bundles))
    golden = GoldenSet(config.data_dir / "golden")
    good, bad = parts(tmp_path / "src")
    production = Engine(load_bundle(bundles[0], threads=1))
    station = build_station(config)
    assert station.promote_shadow(who="eng").text.startswith("no golden samples")  # nothing to check it with
    golden.add(good, "OK", production)
    golden.add(bad, "NG", production)
    station.start()
    try:
        assert wait_until(lambda: (s := station.snapshot().shadow) is not None and s.disagreements >= 3, 20)
        snap = station.snapshot()
        shadow = snap.shadow
        assert shadow is not None and shadow.model_fingerprint != snap.model_fingerprint
        assert set(shadow.disagree) == {"OK->NG"}  # only the 0.25 part: OK at 0.3, NG at 0.2
        assert shadow.agree >= 1 and shadow.compared + shadow.skipped + shadow.errors <= shadow.offered
        metrics = render_metrics(snap)
        assert 'inspector_shadow_disagreements_total{candidate="NG",production="OK"}' in metrics
        assert 'inspector_shadow_frames_total{outcome="skipped"}' in metrics

        production_fp, candidate_fp = snap.model_fingerprint, shadow.model_fingerprint
        outcome = station.promote_shadow(who="eng-anna", why="trial passed")
        assert outcome.ok, outcome.text
        assert station.engine.fingerprint == candidate_fp and station.self_test.blocking() == ""
        assert wait_until(lambda: station.snapshot().model_fingerprint == candidate_fp, 5)
        after = station.snapshot().shadow
        assert after is not None and after.promoted and after.model_fingerprint == ""
        assert not station.promote_shadow(who="eng-anna").ok  # already promoted

        back = station.rollback(who="eng-anna", why="yield dropped")
        assert back.ok and station.engine.fingerprint == production_fp
        assert (s := station.snapshot().shadow) is not None and s.model_fingerprint == candidate_fp
        assert not s.promoted and not station.rollback(who="eng-anna").ok  # nothing left to roll back
    finally:
        assert station.stop(5.0)
    actions = [(e["action"], e["who"]) for e in AuditLog(config.data_dir / "audit.jsonl").entries()]
    assert actions == [
        ("shadow_promote_refused", "eng"),
        ("shadow_promote", "eng-anna"),
        ("shadow_promote_refused", "eng-anna"),
        ("shadow_rollback", "eng-anna"),
        ("shadow_rollback_refused", "eng-anna"),
    ]
    assert read_rows(config.data_dir / "shadow" / "candidate")[0]["verdict"] == "NG"


def test_a_candidate_failing_the_golden_test_is_not_promoted(tmp_path: Path, bundles: tuple[Path, Path]) -> None:
    frames(tmp_path / "line")
    config = load_config(write_config(tmp_path, *bundles, shadow_threshold=0.6))  # the scratch would pass: NG->OK
    good, bad = parts(tmp_path / "src")
    production = Engine(load_bundle(bundles[0], threads=1))
    GoldenSet(config.data_dir / "golden").add(good, "OK", production)
    GoldenSet(config.data_dir / "golden").add(bad, "NG", production)
    station = build_station(config)
    before = station.engine.fingerprint
    outcome = station.promote_shadow(who="eng-anna", why="try it")
    assert not outcome.ok and "scratch.png expected NG got OK" in outcome.text
    assert outcome.golden is not None and not outcome.golden["passed"]
    assert station.engine.fingerprint == before and station.self_test.blocking() == ""  # production untouched
    entry = list(AuditLog(config.data_dir / "audit.jsonl").entries())[-1]
    assert entry["action"] == "shadow_promote_refused" and "expected NG got OK" in entry["why"]


def shadow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "shadow", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_inspector_shadow_status_promote_rollback_through_the_health_port(
    tmp_path: Path, bundles: tuple[Path, Path]
) -> None:
    frames(tmp_path / "line")
    path = write_config(tmp_path, *bundles)
    port = free_port()
    path.write_text(path.read_text() + f"[sinks.http]\nport = {port}\n")
    config = load_config(path)
    good, bad = parts(tmp_path / "src")
    production = Engine(load_bundle(bundles[0], threads=1))
    for image, expect in ((good, "OK"), (bad, "NG")):
        GoldenSet(config.data_dir / "golden").add(image, expect, production)
    station = build_station(config)
    station.start()
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: (s := station.snapshot().shadow) is not None and s.disagreements >= 1, 20)
        status = shadow_cli("status", "--url", url)
        assert status.returncode == 0 and "production->candidate OK->NG" in status.stdout, status.stderr
        promoted = shadow_cli("promote", "--url", url, "--who", "eng-anna", "--why", "trial ok")
        assert promoted.returncode == 0 and "candidate promoted" in promoted.stdout, promoted.stderr
        assert station.shadow is not None and station.shadow.worker.promoted
        assert shadow_cli("rollback", "--config", str(path), "--who", "eng-anna").returncode == 0
        again = shadow_cli("rollback", "--url", url)
        assert again.returncode == 1 and "nothing to roll back" in again.stderr
    finally:
        station.stop(5.0)
    whos = [(e["action"], e["who"]) for e in AuditLog(config.data_dir / "audit.jsonl").entries()]
    assert whos[:2] == [("shadow_promote", "http:eng-anna"), ("shadow_rollback", "http:eng-anna")]
