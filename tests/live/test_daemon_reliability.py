"""Issue 11 items 2, 7, 11, 12, 25: the daemon as systemd runs it (a real subprocess, real signals).

A stop that loses records says so; `--check` refuses what would start a dead station; a bad bundle on
SIGHUP is refused while the running model goes on; a threshold override far from calibration is warned.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_edit import with_props
from conftest_services import free_port
from test_camera import wait_for
from test_daemon import STATION, Daemonised, station

from inspector.cli import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo.onnx"


def test_sigterm_with_a_stuck_sink_says_clean_false_and_counts_what_it_lost(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    dead_broker = free_port()  # nothing listens there: every MQTT record waits in the queue
    config = station(tmp_path, tiny_bundle_path, f'[sinks.mqtt]\nhost = "127.0.0.1"\nport = {dead_broker}\n')
    daemon = Daemonised(config)
    try:
        assert wait_for(lambda: len(daemon.committed()) >= 20 or daemon.proc.poll() is not None, 30.0)
        daemon.proc.send_signal(signal.SIGTERM)
        rc = daemon.finish(15.0)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    stopped = [line for line in daemon.lines if "msg=stopped" in line]
    assert rc == 0 and stopped, daemon.lines[-5:]
    assert "clean=false" in stopped[0] and "not_written=mqtt:" in stopped[0], stopped[0]
    assert int(stopped[0].split("not_written=mqtt:")[1].split()[0]) >= 20


BAD_CONFIGS = {
    "threshold-nan": ("[model]", "[model]\nthreshold = nan", "model.threshold"),
    "threshold-inf": ("[model]", "[model]\nthreshold = inf", "model.threshold"),
    "threshold-negative": ("[model]", "[model]\nthreshold = -1.0", "model.threshold"),
    "read-timeout-inf": ('id = "cam1"', 'id = "cam1"\nread_timeout_s = inf', "cameras[0].read_timeout_s"),
    "frame-size": ("size = 64", "size = 100000", "cameras[0].source.size"),
    "provider": ("threads = 1", 'threads = 1\nprovider = "NoSuchAccelerator"', "model.provider"),
    "http-host": ("[sinks.sqlite]", '[sinks.http]\nhost = "203.0.113.7"\nport = 9\n[sinks.sqlite]', "sinks.http.host"),
    "sqlite-path-dir": ('path = "log.db"', 'path = "adir"', "sinks.sqlite.path"),
    "image-dir-file": ('path = "log.db"', 'path = "log.db"\nimage_dir = "afile"', "sinks.sqlite.image_dir"),
    "data-dir-file": ("[sinks.sqlite]", '[storage]\ndata_dir = "afile"\n[sinks.sqlite]', "storage.data_dir"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_check_refuses_what_would_start_a_dead_station(
    tmp_path: Path, tiny_bundle_path: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str]
) -> None:
    old, new, field = case
    config = station(tmp_path, tiny_bundle_path)
    text = config.read_text()
    if old == "[model]":  # TOML: the table may be written once; put the key inside it
        text = text.replace("[model]", new, 1)
    else:
        assert old in text
        text = text.replace(old, new, 1)
    config.write_text(text)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    assert main(["daemon", "--config", str(config), "--check"]) == 2
    err = capsys.readouterr().err
    assert field in err and "fix:" in err and "Traceback" not in err, err
    if field == "model.provider":
        assert "re-export" not in err and "not installed" in err


def test_reload_refuses_malformed_and_nan_bundles_and_keeps_running(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = station(tmp_path, tiny_bundle_path)
    daemon = Daemonised(config)
    bad = [{"threshold": '"high"'}, {"threshold": "[1]"}, {"input_size": "64"}, {"threshold": "NaN"}]
    try:
        assert wait_for(lambda: len(daemon.committed()) >= 5 or daemon.proc.poll() is not None, 30.0)
        for n, values in enumerate(bad, start=1):
            staged = with_props(tiny_bundle_path, tmp_path / "staged" / "model.onnx", **values)
            shutil.copy(staged, tmp_path / "model.onnx")
            shutil.copy(staged.with_name("model.onnx.sha256"), tmp_path / "model.onnx.sha256")
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(
                lambda n=n: (
                    sum("model reload refused" in line for line in daemon.lines) >= n or daemon.proc.poll() is not None
                ),
                15.0,
            ), daemon.lines[-5:]
            assert daemon.proc.poll() is None, "\n".join(daemon.lines[-20:])
        before = len(daemon.committed())
        assert wait_for(lambda: len(daemon.committed()) > before + 5, 15.0)  # the running model goes on
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.finish(15.0) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    refused = [line for line in daemon.lines if "model reload refused" in line]
    assert "inspector.threshold" in refused[0] and "inspector.input_size" in refused[2]
    assert "inspector.threshold" in refused[3] and not any("Traceback" in line for line in daemon.lines)


def test_shipped_example_has_no_far_override_and_far_overrides_are_warned(tmp_path: Path) -> None:
    example = REPO / "deploy" / "station.example.toml"
    assert "\nthreshold = " not in example.read_text()
    shutil.copy(DEMO, tmp_path / "model.onnx")
    shutil.copy(DEMO.with_name("demo.onnx.sha256"), tmp_path / "model.onnx.sha256")
    (tmp_path / "model.onnx.sha256").write_text(
        (tmp_path / "model.onnx.sha256").read_text().replace("demo.onnx", "model.onnx")
    )
    config = tmp_path / "station.toml"
    config.write_text(STATION.replace("threads = 1", "threads = 1\nthreshold = 0.42"))
    out = subprocess.run(
        [sys.executable, "-m", "inspector", "daemon", "--config", str(config), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stdout and "model.threshold" in out.stdout and "far below" in out.stdout, out.stdout
    scored = with_props(
        DEMO,
        tmp_path / "model.onnx",
        threshold_method='{"deployed": {"threshold": 28.7, "good_scores": [20.0, 22.0, 24.0, 26.0, 28.0]}}',
    )
    assert scored.is_file()
    out = subprocess.run(
        [sys.executable, "-m", "inspector", "daemon", "--config", str(config), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "it would reject 100% of the good calibration images" in out.stdout, out.stdout
