"""The GUI's retrain job (no Qt): the CLI as real child processes, their outcome in words, the "training is
not installed" answer from the real `inspector train`, cancel stopping the child and what it started, the
audit entry, and the folders remembered in the GUI settings."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from inspector.audit import AuditLog
from inspector.errors import InspectorError
from inspector.operator.retrain import RetrainJob, RetrainPlan, Step, not_installed_text, remember, remembered
from inspector.operator.settings import Settings

HERE = Path(__file__).resolve().parent
STANDIN = [sys.executable, str(HERE / "retrain_cli_standin.py")]
WITHOUT_TRAINING = HERE / "without_training"  # a sitecustomize that hides torch (or the training package)


@pytest.fixture()
def plan(tmp_path: Path) -> RetrainPlan:
    data, queue = tmp_path / "data", tmp_path / "review"
    data.mkdir()
    queue.mkdir()
    (queue / "review.csv").write_text("id,kind,label,image\n")
    return RetrainPlan(data, queue, tmp_path / "runs" / "v2", ("--image-size", "64"))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _run(job: RetrainJob, timeout: float = 60.0) -> RetrainJob:
    job.start()
    assert job.wait(timeout), f"the job did not finish: {job.lines}"
    return job


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_plan_is_the_documented_commands(plan: RetrainPlan) -> None:
    text = plan.command_text()
    assert text == (
        f"inspector train --data {plan.data} --add-reviewed {plan.queue} --out {plan.out} --no-progress "
        f"--image-size 64 && inspector export {plan.out} --out {plan.out / 'candidate.onnx'}"
    )
    parsed = RetrainPlan.parse(f" {plan.data} ", plan.queue, str(plan.out), "--image-size 64")
    assert parsed == plan


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (lambda p: (p.data.rmdir(), p)[1], "training data folder"),
        (lambda p: ((p.queue / "review.csv").unlink(), p)[1], "the review queue"),
        (lambda p: (p.out.mkdir(parents=True), (p.out / "run.json").write_text("{}"), p)[2], "is not empty"),
    ],
)
def test_a_plan_that_would_fail_is_refused_before_any_child(plan: RetrainPlan, breaker, expected: str) -> None:
    with pytest.raises(InspectorError, match=expected) as caught:
        breaker(plan).check()
    assert caught.value.fix
    with pytest.raises(InspectorError, match="no output folder"):
        RetrainPlan.parse(str(plan.data), plan.queue, "  ")
    with pytest.raises(InspectorError, match="cannot be read"):
        RetrainPlan.parse(str(plan.data), plan.queue, str(plan.out), '--backbone "unclosed')


def test_a_retrain_runs_train_then_export_and_says_the_outcome(plan: RetrainPlan, tmp_path: Path) -> None:
    calls = tmp_path / "argv.jsonl"
    audit = tmp_path / "audit.jsonl"
    job = _run(RetrainJob(plan, program=STANDIN, env=_env(STANDIN_ARGV=str(calls)), audit_path=audit, who="gui:t"))
    assert job.step is Step.DONE and job.exit_code is None
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    assert argv == [args for _, args in plan.steps()]  # exactly the documented commands, in order
    assert job.candidate == plan.out / "candidate.onnx" and job.candidate.is_file()
    outcome = job.outcome()
    for words in (
        "3 reviewed false reject(s) added to the good images and 1 escape(s)",
        "threshold 1.2345 (expected FRR 1.2 %)",
        "detection 97.5 %, FRR 1.0 %",
        f"Candidate bundle: {plan.candidate}",
    ):
        assert words in outcome, outcome
    assert job.lines[0] == f"$ inspector train --data {plan.data} --add-reviewed {plan.queue} --out {plan.out} " + (
        "--no-progress --image-size 64"
    )
    assert any(line.startswith("threshold 1.2345") for line in job.result_lines())
    (entry,) = AuditLog(audit).entries()
    assert entry["action"] == "retrain" and entry["who"] == "gui:t" and entry["target"] == str(plan.candidate)
    assert entry["new"]["outcome"] == "done" and entry["new"]["threshold"] == 1.2345
    assert (entry["new"]["train_good"], entry["new"]["val_defects"]) == (3, 1)


def test_a_refused_train_is_its_own_message_and_nothing_is_exported(plan: RetrainPlan, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    job = _run(RetrainJob(plan, program=STANDIN, env=_env(STANDIN_MODE="fail"), audit_path=audit))
    assert job.step is Step.FAILED and job.exit_code == 2 and job.candidate is None
    assert job.outcome() == (
        f"Retraining failed: inspector train exited with status 2: --add-reviewed {plan.queue}: the review queue "
        "is empty (fix: mark wrong verdicts in the GUI first)"
    )
    assert not any(line.startswith("$ inspector export") for line in job.lines)
    assert [e["new"]["outcome"] for e in AuditLog(audit).entries()] == ["failed"]


@pytest.mark.parametrize("blocked", ["torch,torchvision,timm", "training,export"])
def test_a_station_without_training_gets_the_command_not_a_traceback(plan: RetrainPlan, blocked: str) -> None:
    """The real `inspector train` in a Python where the training extra (or the training side) is missing."""
    env = _env(PYTHONPATH=str(WITHOUT_TRAINING), BLOCK_IMPORTS=blocked)
    job = _run(RetrainJob(plan, env=env))  # the default program: this Python's `-m inspector`
    assert job.step is Step.NOT_INSTALLED, job.lines
    assert job.outcome() == not_installed_text(plan)
    assert job.outcome() == (
        "training is not installed on this station: pip install 'inspector[train]', or retrain on the "
        f"engineering PC with: {plan.command_text()}"
    )
    assert "Traceback" not in job.outcome()


def test_cancel_stops_the_child_and_what_it_started(plan: RetrainPlan, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    audit = tmp_path / "audit.jsonl"
    job = RetrainJob(plan, program=STANDIN, env=_env(STANDIN_MODE="hang", STANDIN_PIDS=str(pids)), audit_path=audit)
    job.start()
    deadline = time.monotonic() + 30
    while not (pids.is_file() and "fitting" in job.lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    child, grandchild = (int(p) for p in pids.read_text().split())
    assert job.running and job.pid == child and _alive(child) and _alive(grandchild)
    assert _nice(child) == _nice(grandchild) == os.getpriority(os.PRIO_PROCESS, 0) + 10  # inspection goes first
    job.cancel()
    assert job.wait(10) and job.step is Step.CANCELLED
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child) and not _alive(grandchild)
    assert "Cancelled" in job.outcome() and job.candidate is None
    assert not any(line.startswith("$ inspector export") for line in job.lines)
    assert [e["new"]["outcome"] for e in AuditLog(audit).entries()] == ["cancelled"]


def test_the_folders_are_remembered_in_the_gui_settings(plan: RetrainPlan, tmp_path: Path) -> None:
    settings = Settings(tmp_path / "gui.json")
    settings.set_pin("246813")
    assert remembered(settings) == {}
    assert remember(settings, plan)
    again = Settings(tmp_path / "gui.json")
    expected = {"data": str(plan.data), "out_parent": str(plan.out.parent), "options": "--image-size 64"}
    assert remembered(again) == expected
    assert again.has_pin  # the PIN is kept
