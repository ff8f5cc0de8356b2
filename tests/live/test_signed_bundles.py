"""Issue 11 item 20 at the station: with `[model] trusted_keys`, the daemon (a real process, real SIGHUP)
and the GUI's station refuse an unsigned bundle or one signed by another key, at start and on reload,
naming the keys expected and found; a bundle signed by a trusted key is taken."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bundle_edit import with_props
from test_camera import wait_for
from test_daemon import Daemonised, station

from inspector.live.config import load_config
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation
from inspector.signing import new_key, sign_bundle, signature_path

REPO = Path(__file__).resolve().parents[2]


def signed_station(tmp_path: Path, bundle: Path) -> tuple[Path, Path, str]:
    """A station that trusts keys/plant.pub, its model copied from `bundle`; (config, private key, key id)."""
    config = station(tmp_path, bundle)
    config.write_text(config.read_text().replace("threads = 1", 'threads = 1\ntrusted_keys = ["keys/plant.pub"]'))
    key, _, ident = new_key(tmp_path / "keys", "plant")
    return config, key, ident


def install(model: Path, target: Path) -> None:
    """Copy a bundle and whatever sidecars it has over the station's model, as a deploy script would."""
    for suffix in (".sha256", ".sig"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    for suffix in ("", ".sha256", ".sig"):
        if Path(f"{model}{suffix}").exists():
            shutil.copy(f"{model}{suffix}", f"{target}{suffix}")


def test_an_unsigned_bundle_is_refused_at_check_and_at_start(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config, _, ident = signed_station(tmp_path, tiny_bundle_path)
    for flags in (["--check"], []):
        out = subprocess.run(
            [sys.executable, "-m", "inspector", "daemon", "--config", str(config), *flags],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 2, out.stderr
        assert "not signed" in out.stderr and f"{ident} (plant.pub)" in out.stderr and "Traceback" not in out.stderr


def test_sighup_refuses_unsigned_and_foreign_bundles_and_takes_a_trusted_one(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    config, key, ident = signed_station(tmp_path, tiny_bundle_path)
    model = tmp_path / "model.onnx"
    sign_bundle(model, key)
    other_key, _, other_id = new_key(tmp_path / "elsewhere", "laptop")
    staged = tmp_path / "staged" / "model.onnx"
    daemon = Daemonised(config)
    try:
        assert wait_for(lambda: len(daemon.committed()) >= 5 or daemon.proc.poll() is not None, 30.0), daemon.lines[-5:]
        with_props(tiny_bundle_path, staged, threshold="0.31")  # a new model, not signed
        signature_path(staged).unlink(missing_ok=True)
        install(staged, model)
        daemon.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: any("model reload refused" in line for line in daemon.lines), 15.0)
        sign_bundle(staged, other_key)  # signed, by a key the station does not trust
        install(staged, model)
        daemon.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: sum("model reload refused" in line for line in daemon.lines) >= 2, 15.0)
        before = len(daemon.committed())
        assert wait_for(lambda: len(daemon.committed()) > before + 5, 15.0)  # the running model goes on
        sign_bundle(staged, key)  # signed by the trusted key: taken
        install(staged, model)
        daemon.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: any("model reloaded" in line for line in daemon.lines), 15.0), daemon.lines[-5:]
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.finish(15.0) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    refused = [line for line in daemon.lines if "model reload refused" in line]
    assert "not signed" in refused[0] and ident in refused[0]
    assert f"signed by key {other_id}" in refused[1] and f"expected key {ident} (plant.pub)" in refused[1]
    assert any("bundle signature verified" in line and ident in line for line in daemon.lines)


def test_the_gui_station_refuses_an_unsigned_model_at_start_and_in_its_loader(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    config_path, key, ident = signed_station(tmp_path, tiny_bundle_path)
    config = load_config(config_path)
    unsigned = LiveStation(config, config_sinks=False, disk_paths=[])
    try:
        unsigned.start().result(30)
        assert unsigned.phase is Phase.MODEL_ERROR and "not signed" in unsigned.error and ident in unsigned.error
    finally:
        unsigned.close()
    sign_bundle(tmp_path / "model.onnx", key)
    running = LiveStation(config, config_sinks=False, disk_paths=[])
    try:
        running.start().result(30)
        assert running.phase is Phase.RUNNING, running.error
        other_key, _, other_id = new_key(tmp_path / "elsewhere", "laptop")
        foreign = with_props(tiny_bundle_path, tmp_path / "foreign" / "model.onnx", threshold="0.2")
        sign_bundle(foreign, other_key)
        assert running.load_bundle(foreign).result(30) is False
        text = running.messages[-1].text
        assert f"signed by key {other_id}" in text and f"expected key {ident} (plant.pub)" in text
        assert "running model keeps going" in text and running.phase is Phase.RUNNING
    finally:
        running.close()
