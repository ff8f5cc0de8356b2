"""Issue 13 in the GUI on real widgets (offscreen): the engineer's recipe selector (a bad recipe refused with its
code, the old one kept), the operator's lot entry, and the audit trail viewer that verifies the chain and
catches an edited entry. A real station config with recipes, real bundles, the real audit log."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from qt_helpers import DEMO, PIN

from inspector.gui.engineer import PinDialog
from inspector.gui.line_panel import AuditViewer
from inspector.gui.main_window import MainWindow
from inspector.live.config import load_config
from inspector.live.handshake import ErrorCode
from inspector.operator.roles import Role
from inspector.operator.settings import Settings

OPERATOR_PIN = "135790"
STATION = """\
schema_version = 1
station = "line4"
recipe = "A"

[model]
path = "{model}"
threads = 1

[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 10
size = 128

[recipes.A]
model = "{model}"
description = "product A"

[recipes.B]
model = "{model}"
threshold = 0.75
[recipes.B.cameras.cam1]
roi = [0, 0, 96, 96]

[recipes.bad]
model = "bad.onnx"
"""


def write_station(folder: Path) -> Path:
    """A station in `folder`/line (its own audit trail, apart from the PIN's) whose recipe `bad` names a tampered
    bundle (its checksum no longer matches)."""
    folder = folder / "line"
    folder.mkdir()
    bad = folder / "bad.onnx"
    shutil.copy(DEMO, bad)
    shutil.copy(f"{DEMO}.sha256", f"{bad}.sha256")
    bad.write_bytes(bad.read_bytes() + b"\0")
    path = folder / "station.toml"
    path.write_text(STATION.format(model=DEMO))
    return path


def newest_record(qtbot, window: MainWindow, **expected: object):
    """Wait until the camera view shows a record with `expected` fields (drawn by the frame timer)."""
    view = window.views["cam1"]
    qtbot.waitUntil(
        lambda: view.record is not None and all(getattr(view.record, k) == v for k, v in expected.items()),
        timeout=20000,
    )
    return view.record


def pin_dialog(window: MainWindow) -> PinDialog:
    return next(d for d in window.findChildren(PinDialog) if d.isVisible())


def test_the_engineer_selects_a_recipe_and_a_bad_one_is_refused_with_the_old_kept(
    qtbot, open_station, tmp_path: Path
) -> None:
    window = open_station(load_config(write_station(tmp_path)))
    line = window.line
    window.slow_tick()
    assert "recipe A" in window.line_label.text() and "lot (none)" in window.line_label.text()
    assert [line.recipes.itemText(i) for i in range(line.recipes.count())] == ["A", "B", "bad"]
    assert line.recipes.currentText() == "A"
    assert newest_record(qtbot, window, recipe="A").roi is None

    line.recipes.setCurrentText("B")
    qtbot.mouseClick(line.change_button, Qt.MouseButton.LeftButton)  # locked: the engineer PIN first
    dialog = pin_dialog(window)
    assert dialog.windowTitle() == "Engineer PIN" and window.station.station.recipe == "A"
    dialog.pin.setText(PIN)
    dialog.try_pin()  # accepted: the selection goes on
    record = newest_record(qtbot, window, recipe="B")
    assert record.roi == (0, 0, 96, 96) and window.station.threshold == 0.75
    qtbot.waitUntil(lambda: (window.slow_tick(), line.recipe_result.text())[1] == "Recipe B running.", timeout=5000)
    assert "recipe B" in window.line_label.text() and "<b>B</b>" in line.recipe_label.text()

    line.recipes.setCurrentText("bad")
    qtbot.mouseClick(line.change_button, Qt.MouseButton.LeftButton)  # unlocked now: no PIN asked
    qtbot.waitUntil(lambda: (window.slow_tick(), "refused" in line.recipe_result.text())[1], timeout=30000)
    text = line.recipe_result.text()
    assert text.startswith("Recipe 'bad' refused (error 108 RECIPE_REFUSED): recipe 'bad': ")
    assert text.endswith("Recipe B keeps running.")
    assert line.recipes.currentText() == "B"  # the selector shows the recipe that keeps running
    assert "108" in window.notice.text() and window.notice_row.isVisible()
    assert window.station.station.recipe == "B" and window.station.threshold == 0.75
    assert newest_record(qtbot, window, recipe="B").recipe == "B"

    entries = [json.loads(line) for line in (tmp_path / "line" / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["target"]) for e in entries] == [("recipe", "B"), ("recipe_refused", "bad")]
    assert entries[0]["old"]["recipe"] == "A" and entries[0]["new"]["recipe"] == "B"
    assert all(e["who"].startswith("gui:") and e["who"].endswith("(engineer)") for e in entries)


def test_the_operator_sets_the_lot_with_the_operator_pin(qtbot, open_station, tmp_path: Path) -> None:
    settings = Settings(tmp_path / "gui.json")
    settings.set_pin(PIN)
    settings.set_pin(OPERATOR_PIN, role=Role.OPERATOR)
    window = open_station(load_config(write_station(tmp_path)))
    line = window.line
    line.lot_edit.setText("LOT-2026-0042")
    qtbot.mouseClick(line.lot_button, Qt.MouseButton.LeftButton)
    dialog = pin_dialog(window)
    assert dialog.windowTitle() == "Operator PIN" and window.station.station.lot == ""
    dialog.pin.setText(OPERATOR_PIN)
    dialog.try_pin()
    assert newest_record(qtbot, window, lot="LOT-2026-0042").recipe == "A"
    window.slow_tick()
    assert line.lot_result.text() == "Lot LOT-2026-0042 set."
    assert "lot LOT-2026-0042" in window.line_label.text() and "<b>LOT-2026-0042</b>" in line.lot_label.text()
    assert not window.lock.unlocked  # the operator's PIN does not open engineer mode

    outcome = line.set_lot("bad\tlot").result(10)  # a control character: refused, the lot stays
    window.slow_tick()
    assert outcome.error_code is ErrorCode.BAD_LOT_ID
    assert line.lot_result.text().startswith("Lot 'bad\\tlot' refused (error 110 BAD_LOT_ID)")
    assert window.station.station.lot == "LOT-2026-0042"
    assert line.recipe_result.text() == ""
    assert line.select_recipe("B") is None  # the operator may not change the recipe: the engineer PIN is asked
    assert pin_dialog(window).windowTitle() == "Engineer PIN" and window.station.station.recipe == "A"


def test_the_audit_viewer_shows_entries_verifies_and_catches_an_edited_entry(
    qtbot, open_station, tmp_path: Path
) -> None:
    window = open_station(load_config(write_station(tmp_path)))
    line = window.line
    for lot in ("L1", "L2"):
        line.set_lot(lot).result(10)
    viewer = line.open_audit()
    assert isinstance(viewer, AuditViewer) and viewer.isVisible()
    headers = [viewer.table.horizontalHeaderItem(c).text() for c in range(viewer.table.columnCount())]
    assert headers == ["When", "Who", "Action", "Target", "Old", "New", "Why"]
    assert viewer.table.rowCount() == 2
    cells = [viewer.table.item(1, c).text() for c in range(7)]
    assert cells[1].startswith("gui:") and cells[2:] == ["lot", "lot", "L1", "L2", "GUI lot entry"]
    assert not viewer.table.item(0, 0).flags() & Qt.ItemFlag.ItemIsEditable

    verify = next(b for b in viewer.findChildren(type(line.lot_button)) if b.text() == "Verify chain")
    qtbot.mouseClick(verify, Qt.MouseButton.LeftButton)
    assert viewer.answer.text() == "OK: 2 entries, chain intact."

    out = viewer.export(tmp_path / "audit.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["seq"], r["action"], json.loads(r["new"])) for r in rows] == [("1", "lot", "L1"), ("2", "lot", "L2")]
    exported = json.loads(viewer.export(tmp_path / "audit.json").read_text())
    assert [e["new"] for e in exported] == ["L1", "L2"] and "Exported 2 entries" in viewer.answer.text()

    log = tmp_path / "line" / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace('"new": "L1"', '"new": "L9"')  # someone rewrites history
    assert lines[0] != log.read_text().splitlines()[0]
    log.write_text("\n".join(lines) + "\n")
    viewer.reload()
    assert viewer.table.item(0, 5).text() == "L9"
    assert not viewer.verify()
    assert viewer.answer.text() == (
        "TAMPERED: line 1: entry seq=1: its content does not match its hash (the entry "
        "was edited) (0 entries before it check)."
    )
    viewer.close()


def test_without_recipes_the_selector_says_so_and_stays_off(qtbot, open_station, tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(STATION.split("[recipes.A]")[0].replace('recipe = "A"\n', "").format(model=DEMO))
    window = open_station(load_config(path))
    window.slow_tick()
    assert not window.line.recipes.isEnabled() and not window.line.change_button.isEnabled()
    assert window.line.recipes.currentText() == "(no [recipes] in the station config)"
    assert "recipe (station default)" in window.line_label.text()
