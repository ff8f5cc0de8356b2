"""Issue 11 item 19: the engineer PIN's lockout survives a restart, changing the PIN needs the old one,
and a PIN has at least MIN_PIN_DIGITS digits (real settings files, real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import REPO

from inspector.errors import InspectorError
from inspector.operator.settings import (
    LOCKOUT_S,
    MAX_TRIES,
    MIN_PIN_DIGITS,
    EngineerLock,
    Settings,
)

PIN = "314159"


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()  # starts at the real time, so that a real process sees the same lockout

    def __call__(self) -> float:
        return self.now


def _unlock_in_a_new_process(settings: Path, pin: str) -> str:
    """Unlock with `pin` in a fresh Python process, as a restarted GUI would (the real clock)."""
    code = (
        "import sys; from pathlib import Path; from inspector.operator.settings import EngineerLock, Settings; "
        "print(EngineerLock(Settings(Path(sys.argv[1]))).unlock(sys.argv[2]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(settings), pin],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_lockout_survives_a_restart(tmp_path: Path) -> None:
    path, wall = tmp_path / "gui.json", Wall()
    Settings(path).set_pin(PIN)
    lock = EngineerLock(Settings(path), wall=wall)
    for _ in range(MAX_TRIES - 1):
        assert lock.unlock("000000") == (False, "Wrong PIN.")
    restarted = EngineerLock(Settings(path), wall=wall)  # a restart does not give fresh tries
    ok, why = restarted.unlock("000000")
    assert not ok and f"Try again in {LOCKOUT_S:.0f} s" in why
    assert not EngineerLock(Settings(path), wall=wall).unlock(PIN)[0]  # blocked: even the right PIN
    assert "Too many wrong PINs" in _unlock_in_a_new_process(path, PIN)  # a new process, the real clock
    wall.now += LOCKOUT_S + 1
    assert EngineerLock(Settings(path), wall=wall).unlock(PIN) == (True, "")
    assert json.loads(path.read_text())["pin_lockouts"]["engineer"] == {
        "failures": 0,
        "lockouts": 0,
        "blocked_until": 0.0,
    }
    assert path.stat().st_mode & 0o777 == 0o600


def test_repeated_lockouts_grow_and_a_clock_set_back_cannot_stretch_them(tmp_path: Path) -> None:
    path, wall = tmp_path / "gui.json", Wall()
    Settings(path).set_pin(PIN)
    lock = EngineerLock(Settings(path), wall=wall)
    for block in (LOCKOUT_S, 2 * LOCKOUT_S):
        for _ in range(MAX_TRIES - 1):
            lock.unlock("999999")
        assert f"Try again in {block:.0f} s" in lock.unlock("999999")[1]
        wall.now += block + 1
    for _ in range(MAX_TRIES):
        lock.unlock("999999")
    wall.now -= 10 * 365 * 86400.0  # the clock jumps back ten years
    ok, why = lock.unlock(PIN)
    assert not ok and "Try again in 3600 s" in why


def test_changing_the_pin_needs_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    settings = Settings(path)
    for short in ("12345", "abcdef", "1234"):
        with pytest.raises(InspectorError, match=f"at least {MIN_PIN_DIGITS} digits"):
            settings.set_pin(short)
    settings.set_pin(PIN)
    with pytest.raises(InspectorError, match="needs the old one"):
        settings.set_pin("271828")
    with pytest.raises(InspectorError, match="Wrong PIN"):
        settings.set_pin("271828", old="111111")
    assert json.loads(path.read_text())["pin_lockouts"]["engineer"]["failures"] == 1  # a wrong old PIN is a wrong try
    settings.set_pin("271828", old=PIN)
    assert EngineerLock(Settings(path)).unlock("271828") == (True, "")


def _cli(path: Path, *flags: str, typed: str) -> subprocess.CompletedProcess:
    """`inspector gui --set-pin` in a real process, detached from any terminal so getpass reads stdin."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "inspector", "gui", "--settings", str(path), *flags],
        cwd=REPO,
        input=typed,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        start_new_session=True,
        check=False,
    )


def test_set_pin_on_the_command_line_refuses_a_wrong_old_pin(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    first = _cli(path, "--set-pin", typed=f"{PIN}\n{PIN}\n")  # no PIN yet: no old one to ask
    assert first.returncode == 0, first.stderr
    wrong = _cli(path, "--set-pin", typed="000000\n271828\n271828\n")
    assert wrong.returncode == 2 and "Wrong PIN" in wrong.stderr and "Traceback" not in wrong.stderr
    assert EngineerLock(Settings(path)).unlock(PIN) == (True, "")  # unchanged
    short = _cli(path, "--set-pin", typed=f"{PIN}\n1234\n1234\n")
    assert short.returncode == 2 and f"at least {MIN_PIN_DIGITS} digits" in short.stderr
    right = _cli(path, "--set-pin", typed=f"{PIN}\n271828\n271828\n")
    assert right.returncode == 0, right.stderr
    assert EngineerLock(Settings(path)).unlock("271828") == (True, "")


def test_reset_pin_is_the_admin_path_and_clears_the_lockout(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    Settings(path).set_pin(PIN)
    lock = EngineerLock(Settings(path))
    for _ in range(MAX_TRIES):
        lock.unlock("000000")
    reset = _cli(path, "--reset-pin", typed="161803\n161803\n")
    assert reset.returncode == 0, reset.stderr
    assert "engineer" not in json.loads(path.read_text()).get("pin_lockouts", {})
    assert EngineerLock(Settings(path)).unlock("161803") == (True, "")
    if os.geteuid() != 0:  # root may write any file
        path.chmod(0o400)
        refused = _cli(path, "--reset-pin", typed="141421\n141421\n")
        assert refused.returncode == 2 and "not writable by this account" in refused.stderr
