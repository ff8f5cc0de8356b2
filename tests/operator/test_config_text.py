"""Saving the engineer's threshold and ROI into the station TOML without Qt: only those lines change, comments
and mode stay, a layout that cannot be edited line by line is refused with the lines to write by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import DEMO

from inspector.errors import InspectorError
from inspector.live.config import load_config
from inspector.operator.config_save import SavedSettings, save_station_settings
from inspector.operator.station import LiveStation

STATION = f"""\
# the line 3 station: keep this comment
schema_version = 1
station = "line3"

[model]
path = "{DEMO}"  # the bundle
threads = 1

[[cameras]]
id = "cam1"   # top camera
max_fps = 30
[cameras.source]
kind = "synthetic"
fps = 15
"""


def test_only_the_threshold_and_roi_lines_change(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(STATION)
    path.chmod(0o640)
    config = save_station_settings(path, 30.5, {"cam1": (8, 8, 96, 96)})
    assert config.threshold == 30.5 and config.cameras[0].roi == (8, 8, 96, 96)
    added = set(path.read_text().splitlines()) - set(STATION.splitlines())
    assert added == {"threshold = 30.5", "roi = [8, 8, 96, 96]"}
    assert set(STATION.splitlines()) <= set(path.read_text().splitlines())  # comments and layout kept
    assert path.stat().st_mode & 0o777 == 0o640
    save_station_settings(path, None, {"cam1": None})  # the bundle's own and the whole frame: the lines go
    assert path.read_text() == STATION and load_config(path).threshold is None


def test_a_layout_that_cannot_be_edited_line_by_line_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    inline = STATION.replace(
        f'[model]\npath = "{DEMO}"  # the bundle\nthreads = 1\n', f'model = {{ path = "{DEMO}", threads = 1 }}\n'
    )
    path.write_text(inline)
    with pytest.raises(InspectorError) as refused:
        save_station_settings(path, 31.0, {"cam1": None})
    assert "nothing was written" in refused.value.message and "[model] threshold = 31.0" in refused.value.fix
    assert path.read_text() == inline


def test_saved_settings_name_what_a_restart_would_lose(station: LiveStation) -> None:
    saved = SavedSettings(station.config)  # started from --model/--source: no file to save to
    assert saved.changes(station) == [] and not saved.writable_path()
    assert saved.describe([]) == "Threshold and ROIs as started."
    station.set_threshold(30.5)
    station.set_roi("cam1", (8, 8, 96, 96))
    changes = saved.changes(station)
    assert changes == [
        "threshold 30.5 (station config: the bundle's own)",
        "cam1 ROI [8, 8, 96, 96] (station config: whole frame)",
    ]
    assert saved.describe(changes).startswith(
        "TEMPORARY until restart: "
    ) and "start it with --config" in saved.describe(changes)
