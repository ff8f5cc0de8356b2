"""Retrain from the review queue (issue 10 item 6), the GUI engineer's action, without Qt and without torch.

The GUI process is the edge runtime: it never imports torch, timm, `training` or `export`. A `RetrainJob`
runs the CLI as child processes, one after the other, on its own thread:

    inspector train --data DATA --add-reviewed QUEUE --out OUT --no-progress [options]
    inspector export OUT --out OUT/candidate.onnx

It keeps their output lines for the dialog, says the outcome in words (read from the run's run.json), stops
the child on cancel, and writes one audit entry (`retrain`) when it ends. A station without the training
extra gets the command to run on the engineering PC instead of a traceback. The widgets are
`inspector.gui.retrain`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from inspector.audit import record_safely
from inspector.errors import InspectorError
from inspector.operator.settings import Settings

log = logging.getLogger("inspector.gui")
CANDIDATE = "candidate.onnx"
RUN_FILE = "run.json"  # what `inspector train` writes into its --out folder (training.run_summary.RUN_FILE)
SETTINGS_KEY = "retrain"  # the GUI settings entry that remembers the folders
CANCEL_GRACE_S = 3.0  # SIGTERM, then SIGKILL after this long
NICE = 10  # the children run this much nicer than the GUI: the line's inspection keeps its share of the cores
# `inspector train` says "needs the 'train' extra (torch is not installed)"; a child whose training side is
# missing altogether dies on the import instead
NOT_INSTALLED = re.compile(
    r"needs the 'train' extra"
    r"|No module named '(torch|torchvision|timm|albumentations|onnx|onnxscript|safetensors|training|export)[.']"
)
_RESULT_LINES = re.compile(r"^(method |added from the review queue|threshold |test at the deployed|test: |WARNING: )")


class Step(str, Enum):
    IDLE = "idle"
    TRAINING = "training"
    EXPORTING = "exporting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_INSTALLED = "not installed"

    @property
    def finished(self) -> bool:
        return self in (Step.DONE, Step.FAILED, Step.CANCELLED, Step.NOT_INSTALLED)


@dataclass(frozen=True)
class RetrainPlan:
    """What to run: the training data, the station's review queue, the run folder and extra train options."""

    data: Path
    queue: Path
    out: Path
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: str, queue: Path, out: str, options: str = "") -> RetrainPlan:
        """From the dialog's fields; InspectorError naming the field that is empty or cannot be split."""
        if not data.strip():
            raise InspectorError("no training data folder chosen", "choose the folder the model was trained on")
        if not out.strip():
            raise InspectorError("no output folder chosen", "choose a new folder for the run and the candidate")
        try:
            extra = tuple(shlex.split(options))
        except ValueError as exc:
            raise InspectorError(f"the train options cannot be read ({exc})", "close the quotes") from None
        return cls(Path(data.strip()).expanduser(), Path(queue), Path(out.strip()).expanduser(), extra)

    @property
    def candidate(self) -> Path:
        return self.out / CANDIDATE

    def steps(self) -> list[tuple[Step, list[str]]]:
        """The two CLI calls (without the program), in order."""
        train = ["train", "--data", str(self.data), "--add-reviewed", str(self.queue), "--out", str(self.out)]
        return [
            (Step.TRAINING, [*train, "--no-progress", *self.options]),
            (Step.EXPORTING, ["export", str(self.out), "--out", str(self.candidate)]),
        ]

    def command_text(self) -> str:
        """The same commands as an engineer types them (on the engineering PC, for one)."""
        return " && ".join(shlex.join(["inspector", *argv]) for _, argv in self.steps())

    def check(self) -> None:
        """Refuse, before any child starts, what would only fail later: InspectorError in plain words."""
        if not self.data.is_dir():
            raise InspectorError(f"training data folder {self.data} does not exist", "choose the dataset folder")
        if not (self.queue / "review.csv").is_file():
            raise InspectorError(
                f"the review queue {self.queue} is empty", "mark wrong verdicts in the part window first"
            )
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise InspectorError(
                f"output folder {self.out} is not empty", "choose a new folder: an earlier run is never overwritten"
            )


def default_out(parent: Path, wall: Callable[[], float] = time.time) -> Path:
    """A new run folder under `parent`, named by the local time: retrain-20261202-0315."""
    return Path(parent) / time.strftime("retrain-%Y%m%d-%H%M%S", time.localtime(wall()))


def remembered(settings: Settings) -> dict[str, str]:
    """The folders and options of the last retrain started here ({} before the first)."""
    entry = settings.data.get(SETTINGS_KEY)
    return {str(k): str(v) for k, v in entry.items()} if isinstance(entry, dict) else {}


def remember(settings: Settings, plan: RetrainPlan) -> bool:
    """Keep the plan's data folder, output parent and options in the GUI settings; False when not saved."""
    try:
        settings.reload()  # another process (--set-pin) may have written the file
        settings.data[SETTINGS_KEY] = {
            "data": str(plan.data),
            "out_parent": str(plan.out.parent),
            "options": shlex.join(plan.options),
        }
        settings.save()
    except (OSError, InspectorError):
        return False
    return True


def _percent(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "n/a"


def run_words(summary: dict[str, Any]) -> str:
    """The run's outcome in one paragraph: what was added, the threshold, detection and FRR at it."""
    parts = [f"Trained {summary.get('method', '?')}"]
    reviewed = summary.get("reviewed") or {}
    if reviewed:
        parts[0] += (
            f" with {reviewed.get('train_good', 0)} reviewed false reject(s) added to the good images and "
            f"{reviewed.get('val_defects', 0)} escape(s) to the validation defects"
        )
    deployed = (summary.get("thresholds") or {}).get("deployed") or {}
    threshold = summary.get("threshold")
    if isinstance(threshold, (int, float)):
        parts.append(f"threshold {threshold:.4f} (expected FRR {_percent(deployed.get('expected_frr'))})")
    point = ((summary.get("metrics") or {}).get("operating_points") or {}).get("deployed")
    if point:
        parts.append(
            f"test at that threshold: detection {_percent(point.get('detection_rate'))}, "
            f"FRR {_percent(point.get('false_reject_rate'))}"
        )
    if summary.get("calibration_warning"):
        parts.append(f"warning: {summary['calibration_warning']}")
    return "; ".join(parts) + "."


class RetrainJob:
    """One retrain: the plan's child processes on a worker thread; every method returns at once (UI thread).

    `program` is what runs a verb (default: this Python's `-m inspector`, so the child uses the same
    installation); `env` the child's environment (default: this one, unbuffered).
    """

    def __init__(
        self,
        plan: RetrainPlan,
        *,
        program: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        audit_path: Path | None = None,
        who: str = "",
        clock: Callable[[], float] = time.monotonic,
        max_lines: int = 2000,
    ) -> None:
        self.plan = plan
        self.program = list(program) if program is not None else [sys.executable, "-m", "inspector"]
        base = dict(os.environ if env is None else env)
        self.env = {**base, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
        self.audit_path, self.who = audit_path, who
        self._clock = clock
        self.step = Step.IDLE
        self.exit_code: int | None = None
        self.error = ""  # the failing child's own message (its `error:` line), for FAILED
        self.summary: dict[str, Any] = {}  # run.json of the training run
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._count = 0  # lines seen so far (the dialog asks for the ones after its last)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._cancelled = False
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is not None:
            raise RuntimeError("a RetrainJob runs once")
        self._started_at = self._clock()
        self.step = Step.TRAINING
        self._thread = threading.Thread(target=self._run, name="gui-retrain", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop the running child (and its own children): SIGTERM, then SIGKILL after CANCEL_GRACE_S."""
        with self._lock:
            self._cancelled = True
            process = self._process
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(CANCEL_GRACE_S)
        _signal_group(process, signal.SIGKILL)  # what outlived SIGTERM (the child or its workers); none: no-op
        process.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the worker finished (within `timeout`)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.step.finished

    @property
    def running(self) -> bool:
        return self._thread is not None and not self.step.finished

    @property
    def pid(self) -> int | None:
        """The running child's process id (None between children and after the end)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    # ------------------------------------------------------------------ reading
    def lines_after(self, seen: int) -> tuple[list[str], int]:
        """(the output lines after the first `seen`, the count to pass next time); at most the kept ones."""
        with self._lock:
            count, kept = self._count, list(self._lines)
        new = min(count - seen, len(kept))
        return (kept[len(kept) - new :] if new > 0 else []), count

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def elapsed_s(self) -> float:
        if self._started_at is None:
            return 0.0
        return (self._ended_at if self._ended_at is not None else self._clock()) - self._started_at

    def outcome(self) -> str:
        """Where the job stands, in words."""
        elapsed = f"{self.elapsed_s():.0f} s"
        if self.step is Step.IDLE:
            return "Not started."
        if self.step is Step.TRAINING:
            return f"Step 1 of 2: training with the review queue... ({elapsed})"
        if self.step is Step.EXPORTING:
            return f"Step 2 of 2: exporting the candidate bundle... ({elapsed})"
        if self.step is Step.CANCELLED:
            return f"Cancelled after {elapsed}: the child process was stopped; no candidate bundle was written."
        if self.step is Step.NOT_INSTALLED:
            return not_installed_text(self.plan)
        if self.step is Step.FAILED:
            verb = "inspector export" if self.summary else "inspector train"
            return f"Retraining failed: {verb} exited with status {self.exit_code}: {self.error or 'see the output'}"
        words = run_words(self.summary) if self.summary else " ".join(f"{line}." for line in self.result_lines())
        return f"Done in {elapsed}. {words} Candidate bundle: {self.plan.candidate}".replace("  ", " ")

    def result_lines(self) -> list[str]:
        """The training run's own result lines (method, reviewed, threshold, test) from its output."""
        return [line for line in self.lines if _RESULT_LINES.match(line)]

    @property
    def candidate(self) -> Path | None:
        """The exported bundle, once the job is DONE (for shadow mode)."""
        return self.plan.candidate if self.step is Step.DONE else None

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        try:
            step = self._steps()
        except Exception as exc:  # the worker must end in a finished step, whatever went wrong here
            log.exception("retrain worker failed")
            self.error, step = f"the GUI could not follow the child ({exc})", Step.FAILED
        self._ended_at = self._clock()
        self.step = step
        self._audit(step)

    def _steps(self) -> Step:
        """Run the plan's children in order; the step it ends in."""
        for current, argv in self.plan.steps():
            self.step = current
            code = self._child(argv)
            if code is None or self._cancelled:
                return Step.CANCELLED
            if code != 0:
                self.exit_code = code
                self.error = _error_text(self.lines)
                return Step.NOT_INSTALLED if any(NOT_INSTALLED.search(line) for line in self.lines) else Step.FAILED
            if current is Step.TRAINING:
                self.summary = _read_run(self.plan.out)
        return Step.DONE

    def _child(self, argv: list[str]) -> int | None:
        """Run one verb, collecting its output lines; its exit status (None: cancelled before it started)."""
        with self._lock:
            if self._cancelled:
                return None
            self._add(f"$ {shlex.join(['inspector', *argv])}")
            try:
                self._process = subprocess.Popen(
                    [*self.program, *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    errors="replace",
                    env=self.env,
                    start_new_session=True,  # its own process group: cancel stops its workers too
                )
            except OSError as exc:
                self._add(f"error: cannot start {self.program[0]} ({exc.strerror or exc})")
                return 127
            with contextlib.suppress(OSError):  # before it loads torch: its threads and workers inherit it
                nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
                os.setpriority(os.PRIO_PROCESS, self._process.pid, nice)
        process = self._process
        assert process.stdout is not None
        for line in process.stdout:
            with self._lock:
                self._add(line.rstrip("\r\n"))
        code = process.wait()
        with self._lock:
            self._process = None
        return code

    def _add(self, line: str) -> None:
        self._lines.append(line)
        self._count += 1

    def _audit(self, step: Step) -> None:
        if self.audit_path is None:
            return
        deployed = (self.summary.get("thresholds") or {}).get("deployed") or {}
        reviewed = self.summary.get("reviewed") or {}
        record_safely(
            self.audit_path,
            "retrain",
            who=self.who,
            target=str(self.plan.candidate) if step is Step.DONE else str(self.plan.out),
            new={
                "outcome": step.value,
                "data": str(self.plan.data),
                "queue": str(self.plan.queue),
                "out": str(self.plan.out),
                "threshold": self.summary.get("threshold"),
                "expected_frr": deployed.get("expected_frr"),
                "train_good": reviewed.get("train_good"),
                "val_defects": reviewed.get("val_defects"),
                "exit_code": self.exit_code,
            },
            why="GUI: retrain from the review queue",
        )


def not_installed_text(plan: RetrainPlan) -> str:
    """What the GUI says on a station without the training extra."""
    return (
        "training is not installed on this station: pip install 'inspector[train]', or retrain on the "
        f"engineering PC with: {plan.command_text()}"
    )


def _read_run(out: Path) -> dict[str, Any]:
    """The run's run.json ({} when it cannot be read: the output lines say the outcome then)."""
    try:
        data = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _error_text(lines: Sequence[str]) -> str:
    """A failed child's own message: its `error:` line with the fix below it, else its last line."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error: "):
            fix = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else ""
            return " ".join(part for part in (lines[i].removeprefix("error: ").strip(), fix and f"({fix})") if part)
    last = [line for line in lines if line.strip() and not line.startswith("$ ")]
    return last[-1].strip() if last else ""


def _signal_group(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    """Send `sig` to the child's process group (the child and what it started); gone already is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
