"""GUI settings (a small JSON file) and the engineer PIN: a salted scrypt hash, never in clear.

The PIN's lockout (wrong tries in a row, blocked until) lives in the same file, so a restart of the
GUI does not give an attacker fresh tries. Every change is written through `inspector.atomic`.
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
        raise InspectorError(f"the PIN must be at least {MIN_PIN_DIGITS} digits",
                             f"choose a PIN of {MIN_PIN_DIGITS} or more digits")


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
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InspectorError(f"{path}: the GUI settings file cannot be read ({exc})",
                                     "fix or delete it (the engineer PIN must then be set again)") from exc

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # fsynced: a PIN change survives a power cut
        atomic_write(self.path, json.dumps(self.data, indent=2), mode=0o600)

    @property
    def has_pin(self) -> bool:
        return "pin" in self.data

    def set_pin(self, pin: str, *, old: str | None = None) -> None:
        """Set the PIN. When one is set already, `old` must be it (wrong tries count towards the lockout);
        `reset_pin` is the admin path that does without."""
        check_new_pin(pin)
        if self.has_pin:
            if old is None:
                raise InspectorError("an engineer PIN is set already: changing it needs the old one",
                                     "give the old PIN, or, as the settings file's owner, use --reset-pin")
            ok, why = PinLockout(self).check(old)
            if not ok:
                raise InspectorError(f"PIN not changed: {why}", "give the current PIN (or use --reset-pin)")
        self.data["pin"] = hash_pin(pin)
        self.save()
        self._audit("changed with the old PIN" if old is not None else "first PIN set")

    def _audit(self, why: str) -> None:
        """A PIN change in `<settings folder>/audit.jsonl` (never the PIN or its hash)."""
        if self.path is not None:
            record_safely(self.path.with_name("audit.jsonl"), "pin", who=f"gui:{operator_name()}",
                          target=str(self.path), why=why)

    def reset_pin(self, pin: str) -> None:
        """The admin path: set a new PIN without the old one and clear the lockout. It needs write access
        to the settings file, which whoever can delete that file has anyway."""
        check_new_pin(pin)
        self.data["pin"] = hash_pin(pin)
        self.data.pop("pin_lockout", None)
        self.save()
        self._audit("reset without the old PIN (admin)")
        log.warning("engineer PIN reset without the old one", extra={"fields": {"settings": str(self.path),
                                                                                "uid": os.getuid()}})


class PinLockout:
    """Wrong-PIN counting persisted in the settings file: `failures` in a row, `lockouts` since the last
    right PIN, `blocked_until` as wall-clock time (so it survives restarts; clock injected)."""

    def __init__(self, settings: Settings, wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._wall = wall

    @property
    def state(self) -> dict[str, float]:
        raw = self.settings.data.get("pin_lockout")
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
        if not self.settings.has_pin:
            return False, "No engineer PIN is set. Set one with: inspector gui --set-pin"
        if (wait := self.blocked_for()) > 0:
            return False, f"Too many wrong PINs. Try again in {wait:.0f} s."
        state = self.state
        if check_pin(pin, self.settings.data["pin"]):
            if state["failures"] or state["lockouts"]:
                self._store({"failures": 0, "lockouts": 0, "blocked_until": 0.0})
            return True, ""
        state["failures"] += 1
        log.warning("wrong engineer PIN", extra={"fields": {"failures": int(state["failures"])}})
        if state["failures"] >= MAX_TRIES:
            block = min(LOCKOUT_S * 2 ** state["lockouts"], MAX_LOCKOUT_S)
            state = {"failures": 0, "lockouts": state["lockouts"] + 1, "blocked_until": self._wall() + block}
            self._store(state)
            return False, f"Too many wrong PINs. Try again in {block:.0f} s."
        self._store(state)
        return False, "Wrong PIN."

    def _store(self, state: dict[str, float]) -> None:
        self.settings.data["pin_lockout"] = state
        try:
            self.settings.save()
        except OSError as exc:  # still counted in memory; say loudly that a restart would forget it
            log.error("the PIN lockout cannot be saved; a restart would forget it",
                      extra={"fields": {"settings": str(self.settings.path), "error": str(exc)}})


class EngineerLock:
    """Engineer mode: unlocked by the PIN, locked again after `timeout_s` without input (`clock`: monotonic,
    for the idle timer; `wall`: wall-clock time, for the persisted lockout)."""

    def __init__(self, settings: Settings, *, timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._clock = clock
        self.lockout = PinLockout(settings, wall)
        self._unlocked_at: float | None = None
        self._last_input = 0.0

    @property
    def unlocked(self) -> bool:
        return self._unlocked_at is not None

    def unlock(self, pin: str) -> tuple[bool, str]:
        """(True, "") when the PIN is right; else (False, why in plain words)."""
        ok, why = self.lockout.check(pin)
        if not ok:
            return False, why
        self._unlocked_at = self._last_input = self._clock()
        log.info("engineer mode unlocked")
        return True, ""

    def lock(self) -> None:
        if self._unlocked_at is not None:
            log.info("engineer mode locked")
        self._unlocked_at = None

    def touch(self) -> None:
        """The user did something: restart the inactivity timer."""
        self._last_input = self._clock()

    def expired(self) -> bool:
        """True (and locks) when unlocked and idle for longer than the timeout."""
        if self.unlocked and self._clock() - self._last_input > self.timeout_s:
            self.lock()
            return True
        return False

    def remaining_s(self) -> float:
        return max(0.0, self.timeout_s - (self._clock() - self._last_input)) if self.unlocked else 0.0
