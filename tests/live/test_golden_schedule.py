"""Scheduled golden self-tests (issue 10 item 2): the schedule on a fake wall and monotonic clock (no sleeping),
the `[golden]` config checks, and a real station (tiny onnxruntime bundle) whose timer runs its golden set."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_golden import parts, write_config

from inspector.errors import InspectorError
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.golden_schedule import GoldenSchedule
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(120)


class Clock:
    """A wall clock (local time, as a timestamp) and a monotonic one, moved together by the test."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start.timestamp()
        self.mono = 1000.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


def run_for(schedule: GoldenSchedule, clock: Clock, seconds: int, step: int = 60) -> list[tuple[str, str]]:
    """Tick every `step` s for `seconds`: (local HH:MM, trigger) of every run."""
    runs = []
    for _ in range(seconds // step):
        clock.advance(step)
        trigger = schedule.due()
        if trigger is not None:
            runs.append((dt.datetime.fromtimestamp(clock.now).strftime("%H:%M"), trigger))
    return runs


def test_a_run_at_each_shift_start_once() -> None:
    clock = Clock(dt.datetime(2026, 3, 2, 5, 0))
    schedule = GoldenSchedule(0, ["06:00", "14:00", "22:00"], wall=clock.wall, monotonic=clock.monotonic)
    runs = run_for(schedule, clock, 26 * 3600)  # 05:00 to 07:00 the next day
    assert runs == [
        ("06:00", "shift 06:00"),
        ("14:00", "shift 14:00"),
        ("22:00", "shift 22:00"),
        ("06:00", "shift 06:00"),
    ]


def test_every_n_seconds_on_the_monotonic_clock_and_a_shift_restarts_the_count() -> None:
    clock = Clock(dt.datetime(2026, 3, 2, 5, 0))
    schedule = GoldenSchedule(3600, ["06:30"], wall=clock.wall, monotonic=clock.monotonic)
    runs = run_for(schedule, clock, 4 * 3600)
    assert runs == [
        ("06:00", "every 3600 s"),
        ("06:30", "shift 06:30"),  # and the hourly count starts again from here
        ("07:30", "every 3600 s"),
        ("08:30", "every 3600 s"),
    ]
    clock.now -= 2 * 3600  # the wall clock steps back over 06:30 again: no shift run, the hourly one holds
    assert run_for(schedule, clock, 3600) == [("07:30", "every 3600 s")]


def test_off_by_default_and_a_jump_over_a_shift_fires_it_once() -> None:
    clock = Clock(dt.datetime(2026, 3, 2, 13, 0))
    assert run_for(GoldenSchedule(0, [], wall=clock.wall, monotonic=clock.monotonic), clock, 48 * 3600) == []
    schedule = GoldenSchedule(0, ["06:00", "14:00"], wall=clock.wall, monotonic=clock.monotonic)
    clock.now += 3 * 3600  # the wall clock steps forward over 14:00 (NTP, or a suspended machine)
    assert schedule.due() == "shift 14:00"
    assert schedule.due() is None


def test_golden_config_is_checked(tmp_path: Path, tiny_bundle_path: Path) -> None:
    path = write_config(tmp_path, tiny_bundle_path)
    base = path.read_text()
    assert load_config(path).golden.enabled is False
    for table, words in [
        ('[golden]\nshifts = ["6:00"]\n', "golden.shifts[0]: '6:00' is not a time of day"),
        ('[golden]\nshifts = ["06:00", "06:00"]\n', "listed twice"),
        ("[golden]\nevery_s = -1\n", "golden.every_s"),
        ("[golden]\nevery = 60\n", "golden.every"),
    ]:
        path.write_text(base.replace("[[cameras]]", table + "[[cameras]]", 1))
        with pytest.raises(InspectorError, match=r"golden") as caught:
            load_config(path)
        assert words in str(caught.value), str(caught.value)


def test_the_station_timer_runs_the_golden_set_on_the_running_engine(tmp_path: Path, tiny_bundle_path: Path) -> None:
    path = write_config(tmp_path, tiny_bundle_path)
    path.write_text(path.read_text().replace("[[cameras]]", "[golden]\nevery_s = 600\n[[cameras]]", 1))
    config = load_config(path)
    assert config.golden.every_s == 600
    mono = [0.0]
    station = build_station(config, clock=lambda: mono[0])
    good, bad = parts(tmp_path / "src")
    golden = GoldenSet(config.data_dir / "golden")
    golden.add(good, "OK", station.engine)
    golden.add(bad, "NG", station.engine)
    station.start()
    try:
        assert station.golden_timer.running
        assert station.golden_timer.tick() is None
        mono[0] = 599.0
        assert station.golden_timer.tick() is None
        mono[0] = 600.0
        assert station.golden_timer.tick() == "every 600 s"
        assert station.self_test.last is not None and station.self_test.last.passed
        assert station.golden_timer.tick() is None
    finally:
        station.stop(5.0)
    assert not station.golden_timer.running  # stopped with the station
    runs = [json.loads(line) for line in (config.data_dir / "golden" / "runs.jsonl").read_text().splitlines()]
    assert [(r["trigger"], r["passed"]) for r in runs] == [("start", True), ("every 600 s", True)]
