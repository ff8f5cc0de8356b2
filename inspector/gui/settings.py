"""GUI settings (a small JSON file) and the engineer PIN: stored as a salted scrypt hash, never in clear."""

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
from inspector.errors import InspectorError

log = logging.getLogger("inspector.gui")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MAX_TRIES = 5
LOCKOUT_S = 60.0


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


class Settings:
    """Key/value settings kept in a JSON file (`path` None: in memory only, as the demo uses)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
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
        atomic_write(self.path, json.dumps(self.data, indent=2), mode=0o600)  # fsynced: a PIN change survives a power cut

    @property
    def has_pin(self) -> bool:
        return "pin" in self.data

    def set_pin(self, pin: str) -> None:
        if len(pin) < 4 or not pin.isdigit():
            raise InspectorError("the PIN must be at least 4 digits", "choose a longer PIN made of digits")
        self.data["pin"] = hash_pin(pin)
        self.save()


class EngineerLock:
    """Engineer mode: unlocked by the PIN, locked again after `timeout_s` without input (clock injected)."""

    def __init__(self, settings: Settings, *, timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._clock = clock
        self._unlocked_at: float | None = None
        self._last_input = 0.0
        self._failures = 0
        self._blocked_until = 0.0

    @property
    def unlocked(self) -> bool:
        return self._unlocked_at is not None

    def unlock(self, pin: str) -> tuple[bool, str]:
        """(True, "") when the PIN is right; else (False, why in plain words)."""
        now = self._clock()
        if not self.settings.has_pin:
            return False, "No engineer PIN is set. Set one with: inspector gui --set-pin"
        if now < self._blocked_until:
            return False, f"Too many wrong PINs. Try again in {self._blocked_until - now:.0f} s."
        if not check_pin(pin, self.settings.data["pin"]):
            self._failures += 1
            log.warning("wrong engineer PIN", extra={"fields": {"failures": self._failures}})
            if self._failures >= MAX_TRIES:
                self._failures, self._blocked_until = 0, now + LOCKOUT_S
                return False, f"Too many wrong PINs. Try again in {LOCKOUT_S:.0f} s."
            return False, "Wrong PIN."
        self._failures = 0
        self._unlocked_at = self._last_input = now
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
