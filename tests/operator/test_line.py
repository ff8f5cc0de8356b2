"""The line controls' Qt-free model (issue 13): LiveStation's recipe and lot requests through the station's one
Changeover, their answers in plain words, and the audit trail as the viewer reads, verifies and exports it. A real
station from a config file (demo bundle, real audit log); no display."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import DEMO

from inspector.errors import InspectorError
from inspector.live.config import load_config
from inspector.live.handshake import ErrorCode
from inspector.operator.line import AuditTrail, gui_user, line_text
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation

STATION = f"""\
schema_version = 1
station = "line5"
recipe = "A"
[model]
path = "{DEMO}"
threads = 1
[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 2
size = 64
[recipes.A]
model = "{DEMO}"
[recipes.B]
model = "{DEMO}"
threshold = 0.6
"""


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveStation]:
    path = tmp_path / "station.toml"
    path.write_text(STATION)
    station = LiveStation(load_config(path), config_sinks=False, disk_paths=[])
    yield station
    assert station.close()


def test_recipe_and_lot_requests_answer_in_plain_words_and_are_audited(live: LiveStation, tmp_path: Path) -> None:
    assert line_text(live) == "recipe A  \u00b7  lot (none)"  # before the model loaded: the start recipe
    live.start().result(60)
    assert live.phase is Phase.RUNNING, live.error
    who = gui_user("engineer")
    assert who.startswith("gui:") and who.endswith(" (engineer)")

    unknown = live.select_recipe("C", who=who).result(30)
    assert unknown.error_code is ErrorCode.UNKNOWN_RECIPE and live.station.recipe == "A"
    assert live.messages[-1].level == "error"
    assert live.messages[-1].text == (
        "Recipe 'C' refused (error 107 UNKNOWN_RECIPE): no recipe 'C' (recipes: A, B). Recipe A keeps running."
    )
    assert live.select_recipe("B", who=who, why="changeover").result(60).ok
    assert (live.station.recipe, live.threshold) == ("B", 0.6)
    assert live.messages[-1].text == "Recipe B running."
    assert live.set_lot("  L-17 ", who=gui_user()).result(10).lot == "L-17"
    assert live.messages[-1].text == "Lot L-17 set." and line_text(live) == "recipe B  \u00b7  lot L-17"
    assert live.pipeline.lot == "L-17"

    trail = AuditTrail(live.audit_path)
    assert live.audit_path == tmp_path / "audit.jsonl"
    rows = trail.rows()
    assert [(r.seq, r.action, r.target) for r in rows] == [
        (1, "recipe_refused", "C"),
        (2, "recipe", "B"),
        (3, "lot", "lot"),
    ]
    assert json.loads(rows[1].new)["recipe"] == "B" and rows[1].why == "changeover"
    assert (rows[2].old, rows[2].new, rows[2].who) == ("", "L-17", gui_user())
    assert trail.verify() == (True, "OK: 3 entries, chain intact.")


def test_a_request_before_the_model_loaded_is_refused_in_words(live: LiveStation) -> None:
    assert live.select_recipe("B", who="gui:t").result(10) is None  # never started: no station yet
    assert live.messages[-1].text == "Not done: no model is running yet, so no recipe can be set."


def test_the_audit_trail_without_a_log_and_bad_exports_say_what_to_do(tmp_path: Path) -> None:
    assert AuditTrail(None).rows() == []
    assert AuditTrail(None).verify() == (
        False,
        "No audit trail: this GUI was not started from a station config (--config).",
    )
    empty = AuditTrail(tmp_path / "audit.jsonl")
    assert empty.verify() == (True, f"OK: no entries yet ({tmp_path / 'audit.jsonl'}).")
    with pytest.raises(InspectorError, match="unknown export format 'xml'"):
        empty.export(tmp_path / "a.xml", "xml")
    with pytest.raises(InspectorError, match="cannot write") as caught:
        empty.export(tmp_path / "no" / "such" / "a.csv")
    assert caught.value.fix == "choose a folder you may write to"
    (tmp_path / "audit.jsonl").write_text("not json\n")
    with pytest.raises(InspectorError, match="line 1 is not an audit entry"):
        empty.rows()
    assert empty.verify() == (
        False,
        "TAMPERED: line 1: an entry: not valid JSON (edited or cut) (0 entries before it check).",
    )
