"""The engineer's retrain from the review queue in the GUI (issue 10 item 6), on real widgets with real child
processes: a stand-in CLI for the quick paths (it prints and writes what train and export do), the real
`inspector train` without torch for the "not installed" answer, and one real train + export (slow)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes import record
from qt_helpers import PIN, unlock

from inspector.gui.engineer import PinDialog
from inspector.gui.main_window import MainWindow
from inspector.gui.retrain import RetrainDialog
from inspector.operator.retrain import Step, not_installed_text, remembered
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue
from inspector.synthetic import make_part, write_dataset

OPERATOR_TESTS = Path(__file__).resolve().parents[1] / "operator"
STANDIN = [sys.executable, str(OPERATOR_TESTS / "retrain_cli_standin.py")]
WITHOUT_TRAINING = OPERATOR_TESTS / "without_training"


def _queue(root: Path) -> ReviewQueue:
    """A review queue as the GUI writes it: two false rejects and one escape, images of synthetic parts."""
    review = ReviewQueue(root)
    for frame_id, kind, defect in ((1, FALSE_REJECT, None), (2, FALSE_REJECT, None), (9, ESCAPE, "scratch")):
        made = record(2.0 if defect is None else 0.5, frame_id=frame_id, at=1_700_000_000.0 + frame_id)
        image = make_part(np.random.default_rng(100 + frame_id), size=(64, 64), defect=defect).image
        review.add(replace(made, image=image), kind, label=defect)
    return review


def _open(window: MainWindow, tmp_path: Path, **env: str) -> RetrainDialog:
    """Unlock, press the engineer panel's retrain button; the dialog with a stand-in CLI and a data folder."""
    _queue(window.review.root)
    unlock(window)
    window.engineer.retrain_button.click()
    dialog = window.retrain
    assert dialog.isVisible()
    dialog.program, dialog.env = STANDIN, {**os.environ, **env}
    (tmp_path / "data").mkdir(exist_ok=True)
    dialog.data.setText(str(tmp_path / "data"))
    dialog.out.setText(str(tmp_path / "runs" / "v2"))
    return dialog


def _finished(qtbot, dialog: RetrainDialog, timeout: int = 60000) -> None:
    qtbot.waitUntil(
        lambda: dialog.job is not None and dialog.job.step.finished and not dialog.timer.isActive(), timeout=timeout
    )


def test_the_engineer_retrains_and_gets_the_candidate_for_shadow_mode(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    dialog = _open(window, tmp_path)
    assert f"--add-reviewed {window.review.root}" in dialog.command.text()  # the station's own queue
    with qtbot.waitSignal(dialog.candidateReady, timeout=60000) as ready:
        job = dialog.start()
        assert job is not None and not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    candidate = tmp_path / "runs" / "v2" / "candidate.onnx"
    assert ready.args == [str(candidate)] and candidate.is_file()
    _finished(qtbot, dialog)
    assert job.step is Step.DONE
    status = dialog.status.text()
    assert "threshold 1.2345" in status and "detection 97.5 %, FRR 1.0 %" in status
    assert f"Candidate bundle: {candidate}" in status and "Next: run it in shadow mode" in status
    shown = dialog.output.toPlainText()
    assert "$ inspector train --data" in shown and "$ inspector export" in shown and "wrote" in shown
    assert dialog.copy_button.isEnabled() and dialog.start_button.isEnabled()
    assert dialog.out.text() != str(tmp_path / "runs" / "v2")  # a next retrain gets a new folder
    assert remembered(window.lock.settings)["data"] == str(tmp_path / "data")
    again = RetrainDialog(window.station, window.lock, window.review.root, window)
    assert again.data.text() == str(tmp_path / "data")  # the last data folder is offered
    assert Path(again.out.text()).parent == tmp_path / "runs"
    again.deleteLater()


def test_start_asks_for_the_engineer_pin_when_locked(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    dialog = _open(window, tmp_path)
    window.lock_engineer()
    assert dialog.start() is None and dialog.job is None
    pin = next(d for d in window.retrain.findChildren(PinDialog) if d.isVisible())
    assert pin.role.value == "engineer"
    pin.pin.setText(PIN)
    pin.try_pin()  # the PIN opens and the retrain starts
    assert dialog.job is not None
    _finished(qtbot, dialog)
    assert dialog.job.step is Step.DONE


def test_a_refused_field_is_said_before_anything_runs(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    dialog = _open(window, tmp_path)
    dialog.data.setText(str(tmp_path / "nowhere"))
    assert dialog.start() is None and dialog.job is None
    assert dialog.status.text().startswith("Not started: training data folder") and "Fix:" in dialog.status.text()


def test_without_the_training_extra_the_gui_says_where_to_retrain(qtbot, make_window, tmp_path: Path) -> None:
    """The real `inspector train` in a child whose Python has no torch: the message, never a traceback."""
    window = make_window()
    dialog = _open(window, tmp_path, PYTHONPATH=str(WITHOUT_TRAINING))
    dialog.program = None  # this Python's `-m inspector`
    job = dialog.start()
    _finished(qtbot, dialog)
    assert job is not None and job.step is Step.NOT_INSTALLED
    assert dialog.status.text() == not_installed_text(job.plan)
    assert dialog.status.text().startswith(
        "training is not installed on this station: pip install 'inspector[train]', or retrain on the "
        "engineering PC with: inspector train --data "
    )
    assert "Traceback" not in dialog.status.text()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _hanging(qtbot, window: MainWindow, tmp_path: Path) -> tuple[RetrainDialog, int]:
    pids = tmp_path / "pids"
    dialog = _open(window, tmp_path, STANDIN_MODE="hang", STANDIN_PIDS=str(pids))
    dialog.start()
    qtbot.waitUntil(lambda: pids.is_file() and "fitting" in dialog.output.toPlainText(), timeout=30000)
    child = int(pids.read_text().split()[0])
    assert _alive(child)
    return dialog, child


def test_cancel_stops_the_child(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    dialog, child = _hanging(qtbot, window, tmp_path)
    dialog.cancel_button.click()
    _finished(qtbot, dialog)
    assert dialog.job is not None and dialog.job.step is Step.CANCELLED and not _alive(child)
    assert dialog.status.text().startswith("Cancelled after") and not dialog.cancel_button.isEnabled()


def test_closing_the_window_stops_a_running_retrain(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    dialog, child = _hanging(qtbot, window, tmp_path)
    job = dialog.job
    window.close_now()
    assert job is not None and job.step is Step.CANCELLED and not _alive(child)


@pytest.mark.slow
def test_a_real_retrain_gives_a_bundle_the_station_loads(qtbot, make_window, tmp_path: Path) -> None:
    """`inspector train --add-reviewed` and `inspector export` for real (tiny data, the fastest settings), then
    the candidate is verified and loaded by the running station."""
    pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
    data = write_dataset(tmp_path / "data", size=(64, 64), n_train=4, n_val=2, n_test=2, n_defect=2, seed=1)
    window = make_window()
    dialog = _open(window, tmp_path)
    dialog.program, dialog.env = None, None
    dialog.data.setText(str(data))
    dialog.options.setText("--image-size 64 --method padim --seed 0")
    started = time.monotonic()
    job = dialog.start()
    _finished(qtbot, dialog, timeout=240000)
    assert job is not None and job.step is Step.DONE, "\n".join(job.lines[-20:])
    print(f"real retrain (train + export) took {time.monotonic() - started:.1f} s")
    assert job.summary["reviewed"]["train_good"] == 2 and job.summary["reviewed"]["val_defects"] == 1
    assert "2 reviewed false reject(s)" in dialog.status.text()
    assert f"threshold {job.summary['threshold']:.4f}" in dialog.status.text()
    candidate = job.candidate
    assert candidate is not None and candidate.is_file()
    assert window.station.load_bundle(candidate).result(60) is True  # verified and swapped in
