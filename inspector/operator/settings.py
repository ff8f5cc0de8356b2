"""GUI settings (a small JSON file) and the PINs of the roles (operator, engineer, admin): salted scrypt
hashes, never in clear (`pins`: role -> hash).

Each PIN's lockout (wrong tries in a row, blocked until) lives in the same file (`pin_lockouts`: role ->
state), so a restart of the GUI does not give an attacker fresh tries. A file of the single-PIN days
(`pin`, `pin_lockout`) is read as the engineer's PIN and lockout, and written back in the new form. Every
change is written through `inspector.atomic`; which role may do what is `inspector.operator.roles`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.atomic import atomic_write
from inspector.audit import operator_name, record_safely
from inspector.errors import InspectorError
from inspector.operator.roles import Role, required_role

log = logging.getLogger("inspector.gui")
# scrypt n=2^14, r=8: 16 MB and about 50 ms a guess, so the 10^6 six-digit PINs cost hours per core offline
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PIN_DIGITS = 6
MAX_TRIES = 5  # wrong PINs in a row before a lockout
LOCKOUT_S = 60.0  # the first lockout; each further one (without a right PIN between) doubles
MAX_LOCKOUT_S = 3600.0


def default_settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "inspector" / "gui.json"


def hash_pin(pin: str, salt: bytes | None = None) -> dict[str, Any]:
    """A storable record of `pin`: scrypt with a random 16-byte salt."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)
    return {"algo": "scrypt", **_SCRYPT, "salt": salt.hex(), "hash": digest.hex()}


def check_pin(pin: str, stored: dict[str, Any]) -> bool:
    params = {k: int(stored[k]) for k in ("n", "r", "p")}
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(stored["salt"]), dklen=32, **params)
    return hmac.compare_digest(digest.hex(), stored["hash"])


def check_new_pin(pin: str) -> None:
    """Refuse a PIN shorter than MIN_PIN_DIGITS or not made of digits (the PIN pad has only digits)."""
    if len(pin) < MIN_PIN_DIGITS or not pin.isdigit():
        raise InspectorError(
            f"the PIN must be at least {MIN_PIN_DIGITS} digits", f"choose a PIN of {MIN_PIN_DIGITS} or more digits"
        )


class Settings:
    """Key/value settings kept in a JSON file (`path` None: in memory only, as the demo uses)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        self.reload()

    def reload(self) -> None:
        """Read the file again (another process, e.g. `--set-pin`, may have changed it)."""
        path = self.path
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InspectorError(
                    f"{path}: the GUI settings file cannot be read ({exc})",
                    "fix or delete it (the PINs must then be set again)",
                ) from exc
            if not isinstance(data, dict):
                raise InspectorError(
                    f"{path}: the GUI settings file is not a JSON object",
                    "fix or delete it (the PINs must then be set again)",
                )
            self.data = _migrate(data)

    def pin_record(self, role: Role = Role.ENGINEER) -> dict[str, Any] | None:
        """The stored hash of `role`'s PIN (None: not set)."""
        record = self.data.get("pins", {}).get(role.value)
        return record if isinstance(record, dict) else None

    def has_role_pin(self, role: Role) -> bool:
        return self.pin_record(role) is not None

    def _store_pin(self, role: Role, pin: str) -> None:
        self.data.setdefault("pins", {})[role.value] = hash_pin(pin)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # fsynced: a PIN change survives a power cut
        atomic_write(self.path, json.dumps(self.data, indent=2), mode=0o600)

    @property
    def has_pin(self) -> bool:
        """The engineer PIN is set."""
        return self.has_role_pin(Role.ENGINEER)

    def needs_admin(self, role: Role) -> bool:
        """Setting `role`'s PIN needs the admin PIN: an admin PIN is set and `role` is another role."""
        return role is not Role.ADMIN and self.has_role_pin(Role.ADMIN)

    def set_pin(
        self, pin: str, *, old: str | None = None, role: Role = Role.ENGINEER, admin_pin: str | None = None
    ) -> None:
        """Set `role`'s PIN. Once an admin PIN is set, the admin sets the other roles' PINs (`admin_pin`);
        otherwise a PIN set already needs the `old` one to change. Wrong PINs count towards the lockout of
        the role they were tried for; `reset_pin` is the path for the settings file's owner."""
        check_new_pin(pin)
        if self.needs_admin(role):
            if admin_pin is None:
                raise InspectorError(
                    f"an admin PIN is set: the admin sets the {role.value} PIN",
                    "give the admin PIN, or, as the settings file's owner, use --reset-pin",
                )
            ok, why = PinLockout(self, role=Role.ADMIN).check(admin_pin)
            if not ok:
                raise InspectorError(f"PIN not changed: admin PIN: {why}", "give the admin PIN (or use --reset-pin)")
            how = "set by the admin"
        elif self.has_role_pin(role):
            if old is None:
                raise InspectorError(
                    f"an {role.value} PIN is set already: changing it needs the old one",
                    "give the old PIN, or, as the settings file's owner, use --reset-pin",
                )
            ok, why = PinLockout(self, role=role).check(old)
            if not ok:
                raise InspectorError(f"PIN not changed: {why}", "give the current PIN (or use --reset-pin)")
            how = "changed with the old PIN"
        else:
            how = "first PIN set"
        self._store_pin(role, pin)
        self.save()
        self._audit(how, role)

    def _audit(self, why: str, role: Role) -> None:
        """A PIN change in `<settings folder>/audit.jsonl`, with its role (never the PIN or its hash)."""
        if self.path is not None:
            record_safely(
                self.path.with_name("audit.jsonl"),
                "pin",
                who=f"gui:{operator_name()}",
                target=str(self.path),
                new={"role": role.value},
                why=why,
            )

    def reset_pin(self, pin: str, *, role: Role = Role.ENGINEER) -> None:
        """The settings file owner's path: set `role`'s PIN without the old one and clear its lockout. It
        needs write access to the settings file, which whoever can delete that file has anyway; it is how
        the admin's own PIN is set."""
        check_new_pin(pin)
        self._store_pin(role, pin)
        self.data.get("pin_lockouts", {}).pop(role.value, None)
        self.save()
        self._audit("reset without the old PIN (admin)", role)
        log.warning(
            "PIN reset without the old one",
            extra={"fields": {"settings": str(self.path), "role": role.value, "uid": os.getuid()}},
        )


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A single-PIN file (`pin`, `pin_lockout`): that PIN is the engineer's (written back on the next save)."""
    if "pin" in data:
        data.setdefault("pins", {}).setdefault(Role.ENGINEER.value, data.pop("pin"))
    if "pin_lockout" in data:
        data.setdefault("pin_lockouts", {}).setdefault(Role.ENGINEER.value, data.pop("pin_lockout"))
    return data


class PinLockout:
    """Wrong-PIN counting of one role persisted in the settings file: `failures` in a row, `lockouts` since
    the last right PIN, `blocked_until` as wall-clock time (so it survives restarts; clock injected)."""

    def __init__(
        self, settings: Settings, wall: Callable[[], float] = time.time, *, role: Role = Role.ENGINEER
    ) -> None:
        self.settings = settings
        self._wall = wall
        self.role = role

    @property
    def state(self) -> dict[str, float]:
        raw = self.settings.data.get("pin_lockouts", {}).get(self.role.value)
        state = {"failures": 0, "lockouts": 0, "blocked_until": 0.0}
        if isinstance(raw, dict):
            for key in state:
                value = raw.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                    state[key] = value
        return state

    def blocked_for(self) -> float:
        """Seconds until a PIN may be tried again (0: now). A clock set back cannot stretch it past the maximum."""
        return min(max(0.0, self.state["blocked_until"] - self._wall()), MAX_LOCKOUT_S)

    def check(self, pin: str) -> tuple[bool, str]:
        """(True, "") when `pin` is the PIN and no lockout runs; else (False, why). Persists the outcome."""
        try:
            self.settings.reload()  # the file is the truth: a PIN changed or a lockout started elsewhere
        except InspectorError as exc:
            return False, f"{exc.message}. Fix: {exc.fix}."
        record = self.settings.pin_record(self.role)
        if record is None:
            return False, (
                f"No {self.role.value} PIN is set. Set one with: inspector gui --set-pin --role {self.role.value}"
            )
        if (wait := self.blocked_for()) > 0:
            return False, f"Too many wrong PINs. Try again in {wait:.0f} s."
        state = self.state
        if check_pin(pin, record):
            if state["failures"] or state["lockouts"]:
                self._store({"failures": 0, "lockouts": 0, "blocked_until": 0.0})
            return True, ""
        state["failures"] += 1
        log.warning("wrong PIN", extra={"fields": {"role": self.role.value, "failures": int(state["failures"])}})
        if state["failures"] >= MAX_TRIES:
            block = min(LOCKOUT_S * 2 ** state["lockouts"], MAX_LOCKOUT_S)
            state = {"failures": 0, "lockouts": state["lockouts"] + 1, "blocked_until": self._wall() + block}
            self._store(state)
            return False, f"Too many wrong PINs. Try again in {block:.0f} s."
        self._store(state)
        return False, "Wrong PIN."

    def _store(self, state: dict[str, float]) -> None:
        self.settings.data.setdefault("pin_lockouts", {})[self.role.value] = state
        try:
            self.settings.save()
        except OSError as exc:  # still counted in memory; say loudly that a restart would forget it
            log.error(
                "the PIN lockout cannot be saved; a restart would forget it",
                extra={"fields": {"settings": str(self.settings.path), "error": str(exc)}},
            )


class EngineerLock:
    """The GUI's lock: unlocked for one role by that role's PIN (`unlock(pin, role)`), locked again after
    `timeout_s` without input (`clock`: monotonic, for the idle timer; `wall`: wall-clock time, for the
    persisted lockouts). `unlocked` means engineer mode (the engineer or admin role is open); `allows`
    answers for any action of `inspector.operator.roles.ACTIONS`."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._clock = clock
        self._wall = wall
        self.role: Role | None = None  # the role unlocked
        self._unlocked_at: float | None = None
        self._last_input = 0.0

    @property
    def unlocked(self) -> bool:
        """Engineer mode: a role that may change the threshold is unlocked."""
        return self.role is not None and self.role.may("threshold")

    def allows(self, action: str) -> bool:
        """True when `action` may be done now. Review is open to all while no operator PIN is set."""
        needed = required_role(action)
        if needed is Role.OPERATOR and not self.settings.has_role_pin(Role.OPERATOR):
            return True
        return self.role is not None and self.role.may(action)

    def needs(self, action: str) -> Role | None:
        """The role whose PIN the unlock dialog asks for before `action` (None: allowed now)."""
        return None if self.allows(action) else required_role(action)

    def unlock(self, pin: str, role: Role = Role.ENGINEER) -> tuple[bool, str]:
        """(True, "") when `pin` is `role`'s PIN; else (False, why in plain words)."""
        ok, why = PinLockout(self.settings, self._wall, role=role).check(pin)
        if not ok:
            return False, why
        self.role = role
        self._unlocked_at = self._last_input = self._clock()
        log.info("unlocked", extra={"fields": {"role": role.value}})
        return True, ""

    def lock(self) -> None:
        if self._unlocked_at is not None:
            log.info("locked", extra={"fields": {"role": self.role.value if self.role else ""}})
        self._unlocked_at = None
        self.role = None

    def touch(self) -> None:
        """The user did something: restart the inactivity timer."""
        self._last_input = self._clock()

    def expired(self) -> bool:
        """True (and locks) when unlocked and idle for longer than the timeout."""
        if self._unlocked_at is not None and self._clock() - self._last_input > self.timeout_s:
            self.lock()
            return True
        return False

    def remaining_s(self) -> float:
        return max(0.0, self.timeout_s - (self._clock() - self._last_input)) if self._unlocked_at is not None else 0.0
