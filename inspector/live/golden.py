"""The golden-sample self-test (docs/verdicts.md#golden-samples): known parts the station must still judge as before.

A station keeps reference images with their expected verdict (OK or NG) and the score they had when added,
in `<data_dir>/golden/`: the images (copied in), `manifest.json` (written atomically) and `runs.jsonl` (one
line per run, with every row). A recipe may have a set of its own in `<data_dir>/golden/<recipe>/` (same
layout, `inspector golden add --recipe NAME`); while that recipe runs its set is the test, and a recipe
without one uses the station's set. `GoldenSet.run(engine)` inspects them with the station's own
`Engine.inspect`, the call the pipeline makes, so there is no second inference path. A sample fails when its
verdict differs from the expected one, or when the model is the one it was recorded with and its score moved
by more than its tolerance (scores of another model are not comparable; its verdicts still must hold).

The station (`SelfTest`, inspector.live.station) runs the running recipe's set at start and after every model,
threshold or recipe swap.
A failed run blocks the station: `blocked.json` is written, the readiness reasons carry
"golden self-test failed: <image> expected NG got OK" (/readyz answers 503, OPC UA `Inspector.Ready` is false)
and PLC triggers get error 111 SELF_TEST_FAILED, until an engineer acknowledges (`inspector golden ack`, or
`Station.acknowledge_self_test`: an audit entry) or a later run passes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.atomic import atomic_write
from inspector.audit import record_safely
from inspector.errors import InspectorError
from inspector.imageio import read_image

if TYPE_CHECKING:
    from inspector.engine import Engine

log = logging.getLogger(__name__)
MANIFEST, RUNS, BLOCK = "manifest.json", "runs.jsonl", "blocked.json"
DEFAULT_TOLERANCE = 0.1  # of the threshold: how far a sample's score may move under the same model
EXPECTED = ("OK", "NG")


@dataclass(frozen=True)
class Sample:
    """One golden image: its file in the golden folder, the verdict it must get, the score recorded at add."""

    name: str
    expect: str  # OK | NG
    score: float
    tolerance: float  # absolute score units
    model: str  # fingerprint of the model that recorded `score`
    added: str  # UTC, ISO 8601
    source: str = ""  # where it was copied from


@dataclass(frozen=True)
class Row:
    """One sample's outcome in a run."""

    name: str
    expect: str
    got: str  # the verdict now ("ERROR" when the image could not be read)
    score: float | None
    recorded: float
    tolerance: float
    passed: bool
    problem: str = ""  # "" when passed

    @property
    def compared_score(self) -> bool:
        return "score not compared" not in self.problem


@dataclass(frozen=True)
class GoldenRun:
    """One self-test: when, why (start, model swap, cli), which model and threshold, every row."""

    time: str
    trigger: str
    model: str
    threshold: float
    rows: tuple[Row, ...] = field(default_factory=tuple)
    recipe: str = ""  # the recipe whose own set ran ("" = the station's set)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [row for row in self.rows if not row.passed]

    def reason(self) -> str:
        """The readiness reason of a failed run ("" when passed)."""
        failed = self.failures
        if not failed:
            return ""
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        which = f" (recipe {self.recipe})" if self.recipe else ""
        return f"golden self-test failed{which}: {failed[0].problem}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _utc(wall: Callable[[], float]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall()))


class GoldenSet:
    """The golden folder: samples (manifest.json plus the copied images) and the run log (runs.jsonl)."""

    def __init__(self, folder: str | Path, *, wall: Callable[[], float] = time.time, recipe: str = "") -> None:
        self.folder = Path(folder)
        self.recipe = recipe  # "" = the station's set
        self._wall = wall

    def for_recipe(self, recipe: str) -> GoldenSet:
        """Recipe `recipe`'s own set, `<folder>/<recipe>/` (this set for "")."""
        return GoldenSet(self.folder / recipe, wall=self._wall, recipe=recipe) if recipe else self

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    def samples(self) -> list[Sample]:
        """The samples of the manifest ([] when there is none yet)."""
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
            return [Sample(**item) for item in data["samples"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InspectorError(
                f"{self.manifest}: not a golden manifest ({exc})",
                "restore it from a backup, or remove the golden folder and add the samples again",
            ) from exc

    def add(self, image: Path, expect: str, engine: Engine, *, tolerance: float = DEFAULT_TOLERANCE) -> Sample:
        """Copy `image` in and record its score; refused when the station does not judge it `expect` now."""
        expect = expect.upper()
        if expect not in EXPECTED:
            raise InspectorError(f"--expect {expect}: a golden sample is OK or NG", "write --expect OK or --expect NG")
        if tolerance < 0:
            raise InspectorError(f"--tolerance {tolerance}: must be 0 or more", "write e.g. --tolerance 0.1")
        try:
            data = image.read_bytes()
            result = engine.inspect([read_image(image)])[0]
        except OSError as exc:
            raise InspectorError(f"{image}: cannot be read ({exc})", "check the image path") from exc
        got = result.verdict.value
        if got != expect:
            raise InspectorError(
                f"{image}: the station judges it {got} (score {result.score:.4g}), not {expect}",
                "add it with the verdict the station gives, or fix the model first",
            )
        samples = self.samples()
        name = image.name
        taken = {s.name for s in samples}
        stem, n = image.stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}{image.suffix}"
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / name, data)
        sample = Sample(
            name,
            expect,
            float(result.score),
            float(tolerance) * float(result.threshold),
            engine.fingerprint,
            _utc(self._wall),
            str(image.resolve()),
        )
        self._write([*samples, sample])
        return sample

    def remove(self, name: str) -> None:
        samples = self.samples()
        if name not in {s.name for s in samples}:
            raise InspectorError(f"no golden sample {name!r} in {self.folder}", "see `inspector golden list`")
        self._write([s for s in samples if s.name != name])
        (self.folder / name).unlink(missing_ok=True)

    def run(self, engine: Engine, *, trigger: str) -> GoldenRun:
        """Inspect every sample with `engine` and log the run (a line of runs.jsonl)."""
        samples = self.samples()
        rows = [_judge(sample, self.folder / sample.name, engine) for sample in samples] if samples else []
        outcome = GoldenRun(
            _utc(self._wall), trigger, engine.fingerprint, float(engine.threshold), tuple(rows), self.recipe
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / RUNS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(outcome.to_dict(), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return outcome

    def _write(self, samples: Sequence[Sample]) -> None:
        body = {"version": 1, "samples": [asdict(s) for s in samples]}
        atomic_write(self.manifest, json.dumps(body, indent=2, sort_keys=True) + "\n")


def _judge(sample: Sample, path: Path, engine: Engine) -> Row:
    try:
        result = engine.inspect([read_image(path)])[0]
    except (OSError, InspectorError) as exc:
        return Row(
            sample.name,
            sample.expect,
            "ERROR",
            None,
            sample.score,
            sample.tolerance,
            False,
            f"{sample.name} cannot be read ({exc})",
        )
    got, score = result.verdict.value, float(result.score)
    if got != sample.expect:
        problem = f"{sample.name} expected {sample.expect} got {got}"
    elif sample.model != engine.fingerprint:
        return Row(
            sample.name,
            sample.expect,
            got,
            score,
            sample.score,
            sample.tolerance,
            True,
            "score not compared: recorded with another model",
        )
    elif abs(score - sample.score) > sample.tolerance:
        problem = f"{sample.name} score {score:.4g} outside {sample.score:.4g} +/- {sample.tolerance:.4g}"
    else:
        return Row(sample.name, sample.expect, got, score, sample.score, sample.tolerance, True)
    return Row(sample.name, sample.expect, got, score, sample.score, sample.tolerance, False, problem)


def acknowledge(folder: Path, audit_path: Path, *, who: str, why: str = "") -> dict[str, Any] | None:
    """Clear a failed self-test's block (`blocked.json`) with an audit entry; None when nothing was blocked."""
    block = folder / BLOCK
    try:
        blocked = json.loads(block.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        blocked = {"reason": "unreadable blocked.json"}
    record_safely(
        audit_path,
        "golden_ack",
        who=who,
        target="golden self-test",
        old=blocked.get("reason"),
        new="acknowledged",
        why=why,
    )
    block.unlink(missing_ok=True)
    return blocked


class SelfTest:
    """The station's self-test gate: runs the golden set and holds the block until acknowledged."""

    def __init__(self, golden: GoldenSet, *, audit_path: Path) -> None:
        self.golden = golden
        self.audit_path = audit_path
        self.last: GoldenRun | None = None
        self._lock = threading.Lock()
        self._reason = self._stored_reason()

    @property
    def block_path(self) -> Path:
        return self.golden.folder / BLOCK

    def _stored_reason(self) -> str:
        try:
            return str(json.loads(self.block_path.read_text(encoding="utf-8")).get("reason", "golden self-test failed"))
        except FileNotFoundError:
            return ""
        except (OSError, ValueError):
            return "golden self-test failed (blocked.json unreadable)"

    def golden_for(self, recipe: str) -> GoldenSet:
        """The set that tests recipe `recipe`: its own when it has samples, else the station's."""
        own = self.golden.for_recipe(recipe)
        try:
            return own if own is not self.golden and own.samples() else self.golden
        except InspectorError:  # its manifest is broken: that set, so that the run reports it
            return own

    def check(self, engine: Engine, trigger: str, *, recipe: str = "") -> GoldenRun | None:
        """Run recipe `recipe`'s set (`golden_for`; None when it is empty); a failure blocks (the one block of
        the station, in the station's folder), a pass clears an earlier block."""
        golden = self.golden_for(recipe)
        try:
            if not golden.samples():
                return None
            outcome = golden.run(engine, trigger=trigger)
        except (OSError, InspectorError) as exc:
            text = exc.message if isinstance(exc, InspectorError) else str(exc)
            outcome = GoldenRun(
                _utc(time.time),
                trigger,
                engine.fingerprint,
                float(engine.threshold),
                (Row("golden set", "", "ERROR", None, 0.0, 0.0, False, f"cannot run ({text})"),),
                golden.recipe,
            )
        with self._lock:
            self.last = outcome
            if outcome.passed:
                if self._reason:
                    log.info(
                        "golden self-test passed: the earlier block is cleared", extra={"fields": {"trigger": trigger}}
                    )
                self.block_path.unlink(missing_ok=True)
                self._reason = ""
            else:
                self._reason = outcome.reason()
                self.golden.folder.mkdir(parents=True, exist_ok=True)
                atomic_write(
                    self.block_path, json.dumps({"reason": self._reason, "run": outcome.to_dict()}, sort_keys=True)
                )
                log.error(
                    "golden self-test failed: the station is blocked until acknowledged",
                    extra={"fields": {"trigger": trigger, "reason": self._reason}},
                )
        return outcome

    def blocking(self) -> str:
        """The block's reason ("" when not blocked); `inspector golden ack` from another process clears it."""
        with self._lock:
            if self._reason and not self.block_path.exists():
                log.info("golden self-test block acknowledged")
                self._reason = ""
            return self._reason

    def reasons(self) -> list[str]:
        """What the pipeline adds to its readiness reasons."""
        reason = self.blocking()
        return [reason] if reason else []

    def acknowledge(self, *, who: str, why: str = "") -> bool:
        """An engineer accepts the failed run: the station may run (audit entry); False when not blocked."""
        with self._lock:
            done = acknowledge(self.golden.folder, self.audit_path, who=who, why=why) is not None
            if not done and self._reason:  # blocked in memory only (blocked.json could not be written)
                record_safely(
                    self.audit_path,
                    "golden_ack",
                    who=who,
                    target="golden self-test",
                    old=self._reason,
                    new="acknowledged",
                    why=why,
                )
                done = True
            self._reason = ""
            return done
