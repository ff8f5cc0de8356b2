"""Scheduled golden self-tests (docs/verdicts.md#golden-samples): every `every_s` seconds and at each shift start.

`[golden] every_s` (0 = off) counts on the monotonic clock, so a wall-clock step never fires or skips it;
`[golden] shifts` are local wall times ("06:00"), so a shift run happens when the wall clock passes one (a
daylight-saving or NTP step backwards fires nothing, one forwards over a shift start fires it once). A
shift run also restarts the `every_s` count. `GoldenSchedule` only decides (Qt-free, clocks injected);
`GoldenTimer` is the small thread `Station.start` starts and `Station.stop` stops, which asks it once per
`poll_s` and runs the station's self-test (trigger "shift 06:00" or "every 3600 s").
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence

from pydantic import field_validator

from inspector.live.settings import ConfigModel, fail, setting

log = logging.getLogger(__name__)
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class GoldenSettings(ConfigModel):
    """`[golden]`: when the golden self-test runs besides start and every model, threshold or recipe swap."""

    every_s: float = setting(
        0.0, ge=0, help="seconds between scheduled self-tests (`0` = none); counted from start and from each run"
    )
    shifts: list[str] = setting(
        [],
        shown="`[]`",
        help='local times a shift starts, `"HH:MM"` (e.g. `["06:00", "14:00", "22:00"]`): a self-test at each',
    )

    @field_validator("shifts")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for i, text in enumerate(value):
            if not _HHMM.match(text):
                raise fail((i,), f"{text!r} is not a time of day", 'write it as "HH:MM", 24-hour, e.g. "06:00"', text)
        if len(set(value)) != len(value):
            raise fail((), "a shift time is listed twice", "list each shift start once")
        return value

    @property
    def enabled(self) -> bool:
        return self.every_s > 0 or bool(self.shifts)


class GoldenSchedule:
    """Decides when the next scheduled self-test is due; `due()` answers its trigger once, else None."""

    def __init__(
        self,
        every_s: float,
        shifts: Sequence[str],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_s = every_s
        self.shifts = [(int(s[:2]), int(s[3:])) for s in shifts]
        self._wall, self._monotonic = wall, monotonic
        self._last_wall = wall()
        self._next = monotonic() + every_s if every_s > 0 else None

    def _shift_passed(self, before: float, now: float) -> str:
        """The shift start in (before, now] (local time), "" when none; the latest when several."""
        if now <= before:
            return ""
        days = {dt.datetime.fromtimestamp(before).date(), dt.datetime.fromtimestamp(now).date()}
        found: tuple[float, str] | None = None
        for day in days:
            for hour, minute in self.shifts:
                at = dt.datetime.combine(day, dt.time(hour, minute)).timestamp()
                if before < at <= now and (found is None or at > found[0]):
                    found = (at, f"shift {hour:02d}:{minute:02d}")
        return found[1] if found else ""

    def due(self) -> str | None:
        """The trigger of a run due now ("shift 06:00", "every 3600 s"), or None; a due run is answered once."""
        wall, mono = self._wall(), self._monotonic()
        shift = self._shift_passed(self._last_wall, wall)
        self._last_wall = wall
        if shift:
            self._restart(mono)
            return shift
        if self._next is not None and mono >= self._next:
            self._restart(mono)
            return f"every {self.every_s:g} s"
        return None

    def _restart(self, mono: float) -> None:
        if self.every_s > 0:
            self._next = mono + self.every_s


class GoldenTimer:
    """The thread that asks a `GoldenSchedule` every `poll_s` and calls `run(trigger)`; restartable."""

    def __init__(
        self,
        settings: GoldenSettings,
        run: Callable[[str], object],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        poll_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self._run = run
        self._wall, self._monotonic = wall, monotonic
        self.poll_s = poll_s
        self.schedule: GoldenSchedule | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """A fresh schedule (the start's own self-test just ran) and, when `[golden]` asks for any, the thread."""
        self.schedule = GoldenSchedule(
            self.settings.every_s, self.settings.shifts, wall=self._wall, monotonic=self._monotonic
        )
        if not self.settings.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="golden-timer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def tick(self) -> str | None:
        """Run the self-test when one is due; its trigger, else None."""
        trigger = self.schedule.due() if self.schedule is not None else None
        if trigger is not None:
            log.info("scheduled golden self-test", extra={"fields": {"trigger": trigger}})
            self._run(trigger)
        return trigger

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # the timer must outlive one failed run; the next one retries
                log.exception("scheduled golden self-test failed to run")
