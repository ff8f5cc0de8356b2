"""The GUI's shift report (issue 10 item 3) on real widgets: a real SQLite log (written by the station's SQLite
sink, and by a real pipeline run on the demo bundle) grouped by shift, lot and day shows the numbers of
`inspector report` on the same database, and exports its CSV."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton
from qt_helpers import DEMO, wait_records

from inspector.cli import main
from inspector.gui.shift_report import ShiftReportDialog
from inspector.live.config import load_config
from inspector.live.record import FrameRecord
from inspector.live.sinks.sqlite import SqliteSink
from inspector.operator.shift_report import ShiftReport, has_alarms
from inspector.result import InspectionResult
from inspector.verdict import Reason, Verdict

DAY = dt.date(2026, 11, 30)
STATION = """\
schema_version = 1
station = "line5"

[model]
path = "{model}"
threads = 1

[[cameras]]
id = "cam1"
source = {{ kind = "synthetic", fps = 15, size = 96, ng_rate = 0.3 }}

[storage]
data_dir = "data"

[sinks.sqlite]
save_ok_every = 0
{extra}
"""


def write_station(folder: Path, extra: str = "") -> Path:
    path = folder / "station.toml"
    path.write_text(STATION.format(model=DEMO, extra=extra))
    return path


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute)).timestamp()


def part(frame_id: int, when: float, lot: str, verdict: Verdict, why: str | None = None) -> FrameRecord:
    """A judged part: NG with its defect type `why`, UNSURE with its reason `why`."""
    score = {Verdict.OK: 0.4, Verdict.NG: 2.0, Verdict.UNSURE: 0.9}[verdict]
    result = InspectionResult(
        score=score,
        threshold=1.0,
        verdict=verdict,
        model_fingerprint="f" * 64,
        reason=Reason(why) if verdict is Verdict.UNSURE and why else None,
        reason_detail="",
        defect_type=why if verdict is Verdict.NG else None,
        defect_type_probability=0.9 if verdict is Verdict.NG and why else None,
    )
    return FrameRecord("line5", "cam1", frame_id, when, result, None, {"total": 5.0}, lot=lot)


PARTS = [
    (at(7), "L1", Verdict.OK, None),
    (at(7, 10), "L1", Verdict.NG, "scratch"),
    (at(7, 20), "L1", Verdict.UNSURE, "focus"),
    (at(8), "L1", Verdict.OK, None),
    (at(15), "L2", Verdict.NG, "scratch"),
    (at(15, 5), "L2", Verdict.NG, "dent"),
    (at(15, 10), "L2", Verdict.NG, None),
    (at(16), "L2", Verdict.UNSURE, "dark"),
    (at(23), "L2", Verdict.OK, None),  # the night shift crosses midnight: both belong to the 22:00 shift
    (at(3, day=DAY + dt.timedelta(days=1)), "L3", Verdict.UNSURE, "focus"),
    (at(3, 30, day=DAY + dt.timedelta(days=1)), "L3", Verdict.OK, None),
]


@pytest.fixture()
def station(tmp_path: Path) -> Path:
    """A station config whose SQLite log the real sink filled with PARTS."""
    path = write_station(tmp_path)
    config = load_config(path)
    settings = config.sinks["sqlite"]
    sink = SqliteSink(path=settings.path, image_dir=settings.image_dir, save_ok_every=0)
    sink.start()
    for i, (when, lot, verdict, why) in enumerate(PARTS, 1):
        sink.submit(part(i, when, lot, verdict, why))
    assert sink.stop(5.0) and sink.stats.rows == len(PARTS)
    return path


def choose(qtbot, dialog: ShiftReportDialog, by: str | None = None, period: str | None = None) -> None:
    """Pick a grouping and a period as the engineer does; wait until the background read is shown."""
    if period is not None:
        dialog.period.setCurrentText(period)
    if by is not None:
        dialog.by.setCurrentText(by)
    qtbot.waitUntil(lambda: dialog.loaded, timeout=15000)


def cli_rows(capsys, command: str) -> list[dict]:
    """`inspector report` as the dialog names it, its JSON rows."""
    argv = shlex.split(command)
    assert argv[:2] == ["inspector", "report"]
    capsys.readouterr()
    assert main([*argv[1:], "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def words(table: dict) -> str:
    """A count table as the dialog writes it: most first, then by name."""
    return ", ".join(f"{k} {v}" for k, v in sorted(table.items(), key=lambda item: (-item[1], item[0])))


def assert_same_numbers(dialog: ShiftReportDialog, rows: list[dict]) -> None:
    assert dialog.table.rowCount() == len(rows) + 1  # and the total
    for r, row in enumerate(rows):
        assert dialog.cell(r, "Group") == (row["key"] or "(none)")
        for column, key in (("Parts", "parts"), ("OK", "ok"), ("NG", "ng"), ("UNSURE", "unsure")):
            assert dialog.cell(r, column) == str(row[key]), (row["key"], column)
        assert dialog.cell(r, "Yield %") == f"{row['yield_pct']:.2f}"
        assert dialog.cell(r, "NG %") == f"{row['ng_pct']:.2f}"
        assert dialog.cell(r, "NG by type") == words(row["ng_by_type"])
        assert dialog.cell(r, "UNSURE by reason") == words(row["unsure_by_reason"])
        if has_alarms():
            assert dialog.cell(r, "Alarms") == ", ".join(f"{k} x{v}" for k, v in row["alarms"].items())
    last = len(rows)
    assert dialog.cell(last, "Group") == "total"
    assert dialog.cell(last, "Parts") == str(sum(row["parts"] for row in rows))
    assert dialog.cell(last, "NG") == str(sum(row["ng"] for row in rows))


@pytest.mark.parametrize("by", ["shift", "lot", "day"])
def test_the_dialog_shows_the_numbers_of_inspector_report(qtbot, no_leaks, station: Path, capsys, by: str) -> None:
    model = ShiftReport(load_config(station))
    dialog = ShiftReportDialog(model)
    qtbot.addWidget(dialog)
    choose(qtbot, dialog, by, "whole log")  # the table follows the choice
    rows = cli_rows(capsys, model.command(by, "whole log"))
    assert_same_numbers(dialog, rows)
    if by == "shift":
        assert [row["key"] for row in rows] == [
            "2026-11-30 S1 (06:00)",
            "2026-11-30 S2 (14:00)",
            "2026-11-30 S3 (22:00)",
        ]
        assert dialog.cell(1, "NG by type") == "dent 1, scratch 1, untyped 1"
        assert dialog.cell(2, "Parts") == "3" and dialog.cell(2, "UNSURE by reason") == "focus 1"
    assert str(model.db) in dialog.source.text() and "Read-only" in dialog.source.text()


def test_the_station_s_own_shifts_group_the_report(qtbot, no_leaks, tmp_path: Path, station: Path, capsys) -> None:
    """With `[golden] shifts` the report uses the station's shift starts, and its command says so."""
    station.write_text(station.read_text() + '\n[golden]\nshifts = ["06:00", "18:00"]\n')
    model = ShiftReport(load_config(station))
    assert model.shifts == ["06:00", "18:00"] and "--shifts 06:00,18:00" in model.command()
    dialog = ShiftReportDialog(model)
    qtbot.addWidget(dialog)
    choose(qtbot, dialog, "shift", "whole log")
    rows = cli_rows(capsys, model.command("shift", "whole log"))
    assert [row["key"] for row in rows] == ["2026-11-30 S1 (06:00)", "2026-11-30 S2 (18:00)"]
    assert_same_numbers(dialog, rows)


def test_a_period_counts_back_from_now_and_the_csv_is_the_cli_s(
    qtbot, no_leaks, station: Path, tmp_path: Path, capsys
) -> None:
    now = at(16, 30, day=DAY + dt.timedelta(days=1))  # the last 24 hours: from 16:30 on DAY, the night shift's parts
    model = ShiftReport(load_config(station), wall=lambda: now)
    dialog = ShiftReportDialog(model)
    qtbot.addWidget(dialog)
    choose(qtbot, dialog, "lot", "last 24 hours")
    assert [g.key for g in dialog.shown] == ["L2", "L3"] and [dialog.cell(r, "Parts") for r in (0, 1)] == ["1", "2"]
    choose(qtbot, dialog, period="whole log")
    out = dialog.export(tmp_path / "report.csv")
    assert out is not None and "Exported 3 group(s)" in dialog.answer.text()
    capsys.readouterr()
    assert main(["report", "--db", str(model.db), "--by", "lot", "--format", "csv"]) == 0
    assert out.read_text().splitlines() == capsys.readouterr().out.splitlines()
    assert dialog.export(tmp_path / "missing" / "report.csv") is None
    assert "Not exported" in dialog.answer.text() and "Fix:" in dialog.answer.text()


def test_a_station_without_a_log_says_how_to_get_one(qtbot, no_leaks, tmp_path: Path) -> None:
    path = write_station(tmp_path)
    path.write_text(path.read_text().replace("[sinks.sqlite]\nsave_ok_every = 0\n", ""))
    dialog = ShiftReportDialog(ShiftReport(load_config(path)))
    qtbot.addWidget(dialog)
    choose(qtbot, dialog)
    assert dialog.table.rowCount() == 0
    assert "keeps no inspection log" in dialog.answer.text() and "[sinks.sqlite]" in dialog.answer.text()


def test_the_window_s_button_opens_the_report_of_a_real_run(qtbot, open_station, tmp_path: Path, capsys) -> None:
    """A real pipeline on the demo bundle writes the log; the report read while it runs, then after it stopped
    (every row flushed) matches `inspector report`."""
    config = load_config(write_station(tmp_path))
    window = open_station(config)
    wait_records(qtbot, window, 8)
    button = next(b for b in window.findChildren(QPushButton) if b.text() == "Shift report")
    button.click()
    dialog = window.findChild(ShiftReportDialog)
    assert dialog is not None and dialog.isVisible()

    def shows_parts() -> bool:  # the sink writes behind the GUI: read again until its rows are in
        if not dialog.loaded:
            return False
        if dialog.cell(0, "Parts") in ("", "0"):
            dialog.reload()
            return False
        return True

    qtbot.waitUntil(shows_parts, timeout=15000)
    window.close_now()  # the sink flushes every row
    final = ShiftReportDialog(ShiftReport(config))
    qtbot.addWidget(final)
    for by in ("shift", "lot"):
        choose(qtbot, final, by)
        rows = cli_rows(capsys, final.model.command(by, final.period.currentText()))
        assert rows and sum(row["parts"] for row in rows) >= 8
        assert_same_numbers(final, rows)
