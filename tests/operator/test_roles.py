"""Issue 13 item 5: operator, engineer and admin each have a PIN (scrypt, persisted lockout per role), every
GUI action is gated by role, the admin sets the others' PINs, and a single-PIN settings file keeps working
as the engineer's (real settings files, real processes for the CLI)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_pin import _cli

from inspector.audit import AuditLog
from inspector.errors import InspectorError
from inspector.operator.roles import ACTIONS, Role, parse_role
from inspector.operator.settings import MAX_TRIES, EngineerLock, Settings, hash_pin

PINS = {Role.OPERATOR: "111222", Role.ENGINEER: "333444", Role.ADMIN: "555666"}


def _three_roles(path: Path) -> Settings:
    settings = Settings(path)
    settings.reset_pin(PINS[Role.ADMIN], role=Role.ADMIN)  # the admin's own PIN: the settings file owner's path
    for role in (Role.OPERATOR, Role.ENGINEER):
        settings.set_pin(PINS[role], role=role, admin_pin=PINS[Role.ADMIN])
    return settings


def test_a_single_pin_file_is_read_as_the_engineer_pin_with_its_lockout(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    path.write_text(
        json.dumps({"pin": hash_pin("314159"), "pin_lockout": {"failures": 3, "lockouts": 0, "blocked_until": 0.0}})
    )
    lock = EngineerLock(Settings(path))
    assert lock.unlock("314159", Role.OPERATOR)[0] is False  # the old PIN is the engineer's only
    assert lock.unlock("000000") == (False, "Wrong PIN.")  # 4th failure in a row: the old count goes on
    assert "Try again in" in lock.unlock("000000")[1]
    data = json.loads(path.read_text())
    assert "pin" not in data and "pin_lockout" not in data  # written back in the per-role form
    assert set(data["pins"]) == {"engineer"} and data["pin_lockouts"]["engineer"]["lockouts"] == 1
    path.write_text(json.dumps({"pin": hash_pin("314159")}))
    assert EngineerLock(Settings(path)).unlock("314159") == (True, "")


def test_each_role_unlocks_only_with_its_own_pin_and_may_only_its_actions(tmp_path: Path) -> None:
    settings = _three_roles(tmp_path / "gui.json")
    lock = EngineerLock(Settings(settings.path))
    assert not any(lock.allows(action) for action in ACTIONS)  # locked: with an operator PIN, not even review
    assert lock.unlock(PINS[Role.ENGINEER], Role.OPERATOR) == (False, "Wrong PIN.")
    assert lock.unlock(PINS[Role.OPERATOR], Role.ENGINEER) == (False, "Wrong PIN.")
    assert lock.unlock(PINS[Role.OPERATOR], Role.OPERATOR) == (True, "")
    assert [a for a in ACTIONS if lock.allows(a)] == ["review", "lot"] and not lock.unlocked
    assert lock.needs("threshold") is Role.ENGINEER
    lock.lock()
    assert lock.unlock(PINS[Role.ENGINEER], Role.ENGINEER) == (True, "") and lock.unlocked
    assert [a for a in ACTIONS if not lock.allows(a)] == ["set_pins"]
    lock.lock()
    assert lock.unlock(PINS[Role.ADMIN], Role.ADMIN) == (True, "")
    assert all(lock.allows(a) for a in ACTIONS)
    lock.lock()
    assert lock.role is None and not lock.allows("review")


def test_review_is_open_while_no_operator_pin_is_set(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "gui.json")
    settings.set_pin("333444")
    lock = EngineerLock(settings)
    assert lock.allows("review") and lock.needs("review") is None
    assert not lock.allows("threshold") and lock.needs("threshold") is Role.ENGINEER


def test_each_role_has_its_own_persisted_lockout(tmp_path: Path) -> None:
    settings = _three_roles(tmp_path / "gui.json")
    now = [time.time()]
    lock = EngineerLock(Settings(settings.path), wall=lambda: now[0])
    for _ in range(MAX_TRIES):
        lock.unlock("000000", Role.OPERATOR)
    restarted = EngineerLock(Settings(settings.path), wall=lambda: now[0])
    assert "Too many wrong PINs" in restarted.unlock(PINS[Role.OPERATOR], Role.OPERATOR)[1]
    assert restarted.unlock(PINS[Role.ENGINEER], Role.ENGINEER) == (True, "")  # another role: not blocked
    lockouts = json.loads(settings.path.read_text())["pin_lockouts"]
    assert lockouts["operator"]["lockouts"] == 1 and "engineer" not in lockouts


def test_the_admin_sets_the_other_pins_and_every_change_is_audited_with_its_role(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    settings = Settings(path)
    settings.set_pin("333444")  # no admin yet: as before
    settings.reset_pin(PINS[Role.ADMIN], role=Role.ADMIN)
    with pytest.raises(InspectorError, match="the admin sets the engineer PIN"):
        settings.set_pin("777888", old="333444")  # the engineer's old PIN no longer does
    with pytest.raises(InspectorError, match="admin PIN: Wrong PIN"):
        settings.set_pin("777888", admin_pin="000000")
    assert json.loads(path.read_text())["pin_lockouts"]["admin"]["failures"] == 1
    settings.set_pin("777888", role=Role.ENGINEER, admin_pin=PINS[Role.ADMIN])
    settings.set_pin("121212", role=Role.OPERATOR, admin_pin=PINS[Role.ADMIN])
    with pytest.raises(InspectorError, match="changing it needs the old one"):
        settings.set_pin("999000", role=Role.ADMIN)
    settings.set_pin("999000", role=Role.ADMIN, old=PINS[Role.ADMIN])
    assert EngineerLock(Settings(path)).unlock("777888") == (True, "")
    assert EngineerLock(Settings(path)).unlock("999000", Role.ADMIN) == (True, "")
    log = AuditLog(tmp_path / "audit.jsonl")
    assert [(e["action"], e["new"], e["why"]) for e in log.entries()] == [
        ("pin", {"role": "engineer"}, "first PIN set"),
        ("pin", {"role": "admin"}, "reset without the old PIN (admin)"),
        ("pin", {"role": "engineer"}, "set by the admin"),
        ("pin", {"role": "operator"}, "set by the admin"),
        ("pin", {"role": "admin"}, "changed with the old PIN"),
    ]
    text = (tmp_path / "audit.jsonl").read_text()
    assert not any(pin in text for pin in ("777888", "121212", "999000", PINS[Role.ADMIN]))
    assert log.verify() == (5, None)


def test_set_pin_per_role_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "gui.json"
    admin = _cli(path, "--reset-pin", "--role", "admin", typed="555666\n555666\n")
    assert admin.returncode == 0 and "admin PIN saved" in admin.stdout, admin.stderr
    wrong = _cli(path, "--set-pin", "--role", "operator", typed="000000\n111222\n111222\n")
    assert wrong.returncode == 2 and "admin PIN: Wrong PIN" in wrong.stderr and "Traceback" not in wrong.stderr
    right = _cli(path, "--set-pin", "--role", "operator", typed="555666\n111222\n111222\n")
    assert right.returncode == 0, right.stderr
    assert EngineerLock(Settings(path)).unlock("111222", Role.OPERATOR) == (True, "")
    bad = _cli(path, "--set-pin", "--role", "boss", typed="")
    assert bad.returncode == 2 and "invalid choice: 'boss'" in bad.stderr


def test_parse_role_names_the_choices() -> None:
    assert parse_role(" Engineer ") is Role.ENGINEER
    with pytest.raises(InspectorError) as info:
        parse_role("boss")
    assert "operator, engineer, admin" in info.value.fix
