"""The daemon as systemd runs it: a real `python -m inspector daemon` subprocess, real signals and sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from test_camera import wait_for

from inspector.live.config import load_config
from inspector.live.daemon import Daemon
from inspector.live.notify import Notifier

REPO = Path(__file__).resolve().parents[2]

STATION = """\
schema_version = 1
station = "t1"
[model]
path = "model.onnx"
threads = 1
[[cameras]]
id = "cam1"
max_fps = 30
[cameras.source]
kind = "synthetic"
fps = 30
size = 64
ng_rate = 0.3
[sinks.sqlite]
path = "log.db"
save_ok_every = 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def station(tmp_path: Path, bundle: Path, extra: str = "") -> Path:
    shutil.copy(bundle, tmp_path / "model.onnx")
    digest = bundle.with_name(bundle.name + ".sha256").read_text().split()[0]
    (tmp_path / "model.onnx.sha256").write_text(f"{digest}  model.onnx\n")
    path = tmp_path / "station.toml"
    path.write_text(STATION + extra)
    return path


class Daemonised:
    """`python -m inspector daemon` in a subprocess, its stderr lines collected by a thread."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "daemon", "--config", str(config), "--log-level", "debug"],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def committed(self) -> list[tuple[str, int]]:
        acked = []
        for line in list(self.lines):
            if "msg=committed" in line:
                fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                acked.append((fields["camera"], int(fields["frame_id"])))
        return acked

    def finish(self, timeout: float = 10.0) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(2.0)
        return rc


def test_sigterm_with_sd_notify_over_a_real_socket(tmp_path: Path, tiny_bundle_path: Path) -> None:
    port = free_port()
    config = station(tmp_path, tiny_bundle_path, f"[sinks.http]\nport = {port}\n")
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.5)
    messages: list[str] = []
    daemon = Daemonised(config, {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and messages.count("WATCHDOG=1") < 2:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                assert daemon.proc.poll() is None, "\n".join(daemon.lines)
        assert messages[0].startswith("READY=1\nSTATUS=inspecting 1 camera(s)"), messages
        assert messages.count("WATCHDOG=1") >= 2
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as reply:
            assert reply.status == 200  # the HTTP sink reads the same pipeline as READY=1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            metrics = reply.read()
            assert b"inspector_ready 1" in metrics and b'"cam1"' in metrics, metrics
        start = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        rc = daemon.finish(10.0)
        elapsed = time.monotonic() - start
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                break
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        sock.close()
    assert rc == 0 and elapsed < 5.0, (rc, elapsed, daemon.lines[-5:])
    assert messages[-1] == "STOPPING=1"
    stopped = [line for line in daemon.lines if "msg=stopped" in line]
    assert stopped and "clean=true" in stopped[0], daemon.lines[-5:]
    last_id = int(stopped[0].split("last_frame_id=")[1].split()[0])
    assert any("state=STOPPED" in line for line in daemon.lines)  # the camera was released
    with sqlite3.connect(tmp_path / "log.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT MAX(frame_id) FROM inspections").fetchone()[0] == last_id  # last verdict whole
    assert all(line.startswith("ts=") and " level=" in line for line in daemon.lines)


def test_kill_9_while_writing_keeps_the_database_whole(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = station(tmp_path, tiny_bundle_path)
    daemon = Daemonised(config)
    try:
        assert wait_for(lambda: len(daemon.committed()) >= 25 or daemon.proc.poll() is not None, 30.0)
        assert daemon.proc.poll() is None, "\n".join(daemon.lines[-10:])
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.finish(5.0)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    acked = set(daemon.committed())
    assert len(acked) >= 25
    with sqlite3.connect(tmp_path / "log.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = set(con.execute("SELECT camera, frame_id FROM inspections").fetchall())
        paths = [p for (p,) in con.execute("SELECT image_path FROM inspections WHERE image_path IS NOT NULL")]
    assert acked <= stored, sorted(acked - stored)
    for rel in paths:  # every logged image is whole on disk (atomic rename)
        data = (tmp_path / "images" / rel).read_bytes()
        assert data.startswith(b"\x89PNG") and data.rstrip().endswith(b"IEND\xaeB`\x82")


def test_ready_watchdog_only_while_frames_flow_and_reload(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = load_config(station(tmp_path, tiny_bundle_path))
    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    daemon = Daemon(config, notifier=Notifier(str(sock_path), watchdog_usec=600_000))

    def received() -> list[str]:
        out = []
        while True:
            try:
                out.append(sock.recv(4096).decode())
            except BlockingIOError:
                return out

    try:
        daemon.tick()
        assert received() == []  # nothing before the cameras are up
        daemon.pipeline.start()
        assert wait_for(lambda: daemon.pipeline.snapshot().frames >= 2)
        daemon.tick()
        got = received()
        assert got[0].startswith("READY=1") and got[1] == "WATCHDOG=1"
        for camera in daemon.pipeline.cameras.values():
            camera.stop()  # frames stop flowing: the watchdog must not be fed
        time.sleep(1.2)
        daemon.tick()
        assert received() == []

        running = daemon.pipeline.engine
        tampered = tmp_path / "model.onnx"
        tampered.write_bytes(tampered.read_bytes() + b"\0")
        assert daemon.reload_model(tampered) is False
        assert daemon.pipeline.engine is running
        assert daemon.reload_model(tiny_bundle_path) is True
        assert daemon.pipeline.engine is not running
    finally:
        daemon.pipeline.stop(3.0)
        sock.close()


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": "@abstract-inspector-test"}])
def test_notifier_from_env(env: dict[str, str]) -> None:
    notifier = Notifier.from_env({**env, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"})
    assert notifier.enabled is bool(env)
    assert notifier.watchdog_interval is None  # WATCHDOG_PID names another process
    assert Notifier.from_env({"WATCHDOG_USEC": "10000000"}).watchdog_interval == 5.0
