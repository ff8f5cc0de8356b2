"""The shift report dialog's alarms: episodes the real SQLite sink logged (raised, cleared, still active) show
per group as `inspector report` counts them, with each episode in the tooltip, and go into the CSV as the CLI
writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_shift_report_dialog import PARTS, assert_same_numbers, at, choose, cli_rows, part, write_station

from inspector.cli import main
from inspector.gui.shift_report import ShiftReportDialog
from inspector.live.config import load_config
from inspector.live.sinks.sqlite import SqliteSink
from inspector.operator.shift_report import ShiftReport, has_alarms

alarms = pytest.importorskip("inspector.live.alarms", reason="the station log keeps no alarms in this version")
if not has_alarms():
    pytest.skip("inspector report counts no alarms in this version", allow_module_level=True)

EVENTS = [
    (at(7, 15), "drift_cam1_ng_rate", alarms.RAISED),
    (at(7, 45), "drift_cam1_ng_rate", alarms.CLEARED),
    (at(15, 2), "drift_cam1_ng_rate", alarms.RAISED),  # still active at the end of the log
    (at(15, 30), "storage_degraded", alarms.RAISED),
    (at(15, 40), "storage_degraded", alarms.CLEARED),
]


@pytest.fixture()
def station(tmp_path: Path) -> Path:
    path = write_station(tmp_path)
    settings = load_config(path).sinks["sqlite"]
    sink = SqliteSink(path=settings.path, image_dir=settings.image_dir, save_ok_every=0)
    sink.start()
    for i, (when, lot, verdict, why) in enumerate(PARTS, 1):
        sink.submit(part(i, when, lot, verdict, why))
    for when, name, state in EVENTS:
        sink.alarm(alarms.AlarmEvent(when, "line5", "r1", name, state, camera="cam1" if "drift" in name else ""))
    assert sink.stop(5.0)
    return path


def test_alarms_show_per_shift_as_inspector_report_counts_them(qtbot, no_leaks, station: Path, capsys) -> None:
    model = ShiftReport(load_config(station))
    dialog = ShiftReportDialog(model)
    qtbot.addWidget(dialog)
    choose(qtbot, dialog, "shift", "whole log")
    rows = cli_rows(capsys, model.command("shift", "whole log"))
    assert_same_numbers(dialog, rows)  # the Alarms column included
    column = model.columns().index("Alarms")
    assert dialog.cell(0, "Alarms") == "drift_cam1_ng_rate x1"
    assert set(dialog.cell(1, "Alarms").split(", ")) == {"drift_cam1_ng_rate x1", "storage_degraded x1"}
    tooltip = dialog.table.item(1, column).toolTip()
    assert "drift_cam1_ng_rate (cam1):" in tooltip and "still active" in tooltip and "storage_degraded:" in tooltip


def test_the_csv_carries_the_alarms_as_the_cli_writes_them(
    qtbot, no_leaks, station: Path, tmp_path: Path, capsys
) -> None:
    model = ShiftReport(load_config(station))
    dialog = ShiftReportDialog(model)
    qtbot.addWidget(dialog)
    choose(qtbot, dialog, "day", "whole log")
    out = dialog.export(tmp_path / "days.csv")
    assert out is not None
    capsys.readouterr()
    assert main(["report", "--db", str(model.db), "--by", "day", "--format", "csv"]) == 0
    assert out.read_text().splitlines() == capsys.readouterr().out.splitlines()
    assert "storage_degraded" in out.read_text()
