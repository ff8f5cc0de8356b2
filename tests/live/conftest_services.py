"""Real services for the live tests: a Mosquitto broker on 127.0.0.1 and free loopback ports.

Imported explicitly by the tests that need them (`from conftest_services import ...`).
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

MQTT_USER = "station-user"
MQTT_PASSWORD = "s3cr3t-Pa55word-never-logged"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> bool:
    """True once something accepts TCP connections on host:port, False after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate` (no busy loop) until it is truthy or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str
    password: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class MosquittoProcess:
    """One mosquitto process on a fixed port; `start()` again after `stop()` to simulate a broker restart."""

    def __init__(self, binary: str, conf: Path, port: int) -> None:
        self.binary, self.conf, self.port = binary, conf, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if not wait_for_port(self.port, timeout=10):
            self.stop()
            pytest.fail("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def make_mosquitto(folder: Path) -> tuple[MosquittoProcess, Broker]:
    """Configure (not start) a broker with password authentication on a free 127.0.0.1 port."""
    binary = _mosquitto_binary()
    passwd_tool = shutil.which("mosquitto_passwd")
    if binary is None or passwd_tool is None:
        pytest.skip("mosquitto is not installed (run .ci/services.sh or `apt-get install -y mosquitto`)")
    passwd = folder / "passwd"
    subprocess.run(
        [passwd_tool, "-b", "-c", str(passwd), MQTT_USER, MQTT_PASSWORD], check=True, capture_output=True, timeout=10
    )
    passwd.chmod(0o600)
    port = free_port()
    log_path = folder / "mosquitto.log"
    conf = folder / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"user {getpass.getuser()}",  # stay the current user when run as root (else it switches to `mosquitto`)
                f"listener {port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {passwd}",
                "persistence false",
                f"log_dest file {log_path}",
                "log_type all",
                "",
            ]
        )
    )
    return MosquittoProcess(binary, conf, port), Broker("127.0.0.1", port, MQTT_USER, MQTT_PASSWORD, log_path)


@pytest.fixture(scope="module", name="mosquitto")
def mosquitto_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Mosquitto broker, shared by a test module (tests use distinct station names)."""
    process, broker = make_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    process.start()
    try:
        yield broker
    finally:
        process.stop()


def colour_frames(n: int, size: tuple[int, int] = (96, 128), seed: int = 0) -> list[np.ndarray]:
    """RGB frames that are red-dominant with noise (so none is blank or a repeat)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        img = rng.integers(0, 40, (*size, 3), dtype=np.uint8)
        img[..., 0] = rng.integers(180, 255, size, dtype=np.uint8)
        frames.append(img)
    return frames
