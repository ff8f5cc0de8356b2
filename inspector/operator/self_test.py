"""The golden self-test in the GUI (issue 10 item 2), without Qt: run it on demand, its outcome in plain words,
the engineer's acknowledgement of a failed run, and a part added as a golden sample. The widgets are in
`inspector.gui.self_test_box`; the test itself is the station's (`Station.run_self_test`, inspector.live.golden).
"""

from __future__ import annotations

import logging
import tempfile
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.errors import InspectorError
from inspector.imageio import write_image
from inspector.live.golden import GoldenRun, Row, Sample
from inspector.live.pipeline import crop
from inspector.live.record import FrameRecord
from inspector.operator.state import Message, Phase

if TYPE_CHECKING:
    from inspector.operator.station import LiveStation

log = logging.getLogger("inspector.gui")
TRIGGER = "gui"  # the trigger a run from the GUI's button is logged with (runs.jsonl)


@dataclass(frozen=True)
class RunText:
    """A self-test outcome as the engineer panel shows it: one headline and a line per changed sample."""

    headline: str
    lines: tuple[str, ...] = ()
    passed: bool | None = None  # None: no run yet


def row_text(row: Row) -> str:
    """Why one sample failed, in plain words."""
    if row.got == "ERROR":
        return row.problem
    score = f"score {row.score:.4g}, recorded {row.recorded:.4g}" if row.score is not None else ""
    if row.got != row.expect:
        return f"{row.name}: expected {row.expect}, got {row.got} ({score})"
    return f"{row.name}: score moved: {row.problem.removeprefix(row.name + ' ')} ({score})"


def run_text(run: GoldenRun | None, samples: int | None = None) -> RunText:
    """The headline and the changed samples of `run` (None: no run yet; `samples`: how many the set holds)."""
    if run is None:
        if samples == 0:
            return RunText(
                "No golden samples yet: add some (a part window's 'Add as golden sample', or `inspector golden add`)."
            )
        return RunText("No self-test has run yet.")
    when = f"{run.trigger}, {run.time}, model {run.model[:12]}" + (f", recipe {run.recipe}" if run.recipe else "")
    if run.passed:
        return RunText(f"Passed: all {len(run.rows)} golden samples as expected ({when}).", passed=True)
    failed = run.failures
    return RunText(
        f"FAILED: {len(failed)} of {len(run.rows)} golden samples changed ({when}).",
        tuple(row_text(row) for row in failed),
        passed=False,
    )


class SelfTestActions:
    """What the engineer panel's self-test box does; every slow step runs on the station's control thread."""

    def __init__(self, live: LiveStation) -> None:
        self.live = live
        self.running = False  # a run from the button is in progress

    def samples(self) -> int | None:
        """How many golden samples test the running recipe (None: unknown, before start or a broken manifest)."""
        station = self.live.station
        if station is None:
            return None
        try:
            return len(station.self_test.golden_for(station.recipe).samples())
        except InspectorError:
            return None

    def last(self) -> GoldenRun | None:
        """The latest run, whatever triggered it (start, model swap, schedule, PLC, MQTT, this button)."""
        station = self.live.station
        return station.self_test.last if station is not None else None

    def text(self) -> RunText:
        if self.running:
            return RunText("Running the golden samples through the pipeline...")
        return run_text(self.last(), self.samples())

    @property
    def blocked(self) -> bool:
        """The station is held by a failed self-test (what Acknowledge is for)."""
        return self.live.phase is Phase.SELF_TEST_FAILED

    def run(self) -> Future:
        """Run the golden set on the running engine in the background (trigger "gui"); the Future gives the
        GoldenRun (None: no samples or no model)."""
        self.running = True
        return self.live.submit(self._run)

    def _run(self) -> GoldenRun | None:
        try:
            station = self.live.station
            if station is None:
                self.live.messages.append(Message("error", "Self-test not run: no model is running yet."))
                return None
            run = station.run_self_test(TRIGGER)
        finally:
            self.running = False
        if run is None:
            self.live.messages.append(Message("warning", run_text(None, 0).headline))
            return None
        text = run_text(run)
        self.live.messages.append(
            Message("info" if run.passed else "error", " ".join((f"Self-test {text.headline}", *text.lines)))
        )
        log.info("golden self-test from the gui", extra={"fields": {"passed": run.passed, "samples": len(run.rows)}})
        return run

    def acknowledge(self, who: str, why: str) -> tuple[bool, str]:
        """The engineer accepts the failed run with a reason (an audit entry): (done, what happened)."""
        if not why.strip():
            return False, "Not acknowledged: give a reason (it goes into the audit trail)."
        if not self.blocked:
            return False, "Nothing to acknowledge: the self-test does not block the station."
        if not self.live.acknowledge_self_test(who, why.strip()):
            return False, "Nothing to acknowledge: the block was already cleared."
        return True, "Self-test failure acknowledged: the station runs again (audit entry written)."

    def add_sample(self, record: FrameRecord) -> Future:
        """Add the part (the ROI it was inspected with) to the running recipe's golden set with the verdict it
        got, in the background; the Future gives the Sample (None when refused: the reason is a message)."""
        return self.live.submit(self._add, record)

    def _add(self, record: FrameRecord) -> Sample | None:
        station = self.live.station
        expect = record.result.verdict.value
        why = "no model is running" if station is None else _not_golden(record)
        if station is None or record.image is None or why:  # (the image test is for the type checker)
            self.live.messages.append(Message("error", f"Not added as a golden sample: {why}."))
            return None
        golden = station.self_test.golden_for(station.recipe)
        with tempfile.TemporaryDirectory(prefix="inspector-golden-") as tmp:
            path = Path(tmp) / f"{record.camera}_{record.frame_id:06d}.png"
            write_image(path, crop(record.image, record.roi))
            try:
                sample = golden.add(path, expect, station.engine)
            except InspectorError as exc:
                why = exc.message.replace(str(path), path.name)
                self.live.messages.append(Message("error", f"Not added as a golden sample: {why}."))
                return None
        self.live.messages.append(
            Message("info", f"Golden sample {sample.name} added (expect {expect}, score {sample.score:.4g}).")
        )
        return sample


def _not_golden(record: FrameRecord) -> str:
    """Why `record` cannot become a golden sample ("" when it can)."""
    expect = record.result.verdict.value
    if expect not in ("OK", "NG"):
        return f"a golden sample is OK or NG, this part is {expect}"
    return "the part's image was not kept" if record.image is None else ""
