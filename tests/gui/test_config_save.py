"""Issue 11 items 24 and 25 with real widgets: the engineer's threshold and ROI edits are marked TEMPORARY
until saved to the station config (written so a restart keeps them, comments kept), and a threshold far
from the bundle's calibration scores is warned with the share of good calibration images it rejects."""

from __future__ import annotations

from pathlib import Path

from bundle_edit import with_props
from PySide6.QtCore import Qt
from qt_helpers import DEMO, camera, unlock, wait_records

from inspector.live.config import load_config
from inspector.operator.launch import single_camera_config

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
size = 128
ng_rate = 0.3
"""


def test_edits_are_temporary_until_saved_and_a_restart_keeps_what_was_saved(
    qtbot, open_station, tmp_path: Path
) -> None:
    path = tmp_path / "station.toml"
    path.write_text(STATION)
    path.chmod(0o640)
    window = open_station(load_config(path))
    unlock(window)
    panel = window.engineer
    window.slow_tick()
    assert "as in station.toml" in panel.unsaved_label.text() and not panel.save_button.isEnabled()
    panel.set_slider(30.5)
    panel.apply.click()
    assert panel.set_roi("cam1", (8, 8, 96, 96))
    window.slow_tick()
    shown = panel.unsaved_label.text()
    assert shown.startswith("TEMPORARY until restart") and "threshold 30.5" in shown and "[8, 8, 96, 96]" in shown
    assert "TEMPORARY" in panel.value.text() and "TEMPORARY until restart" in panel.roi_label.text()
    assert panel.save_button.isEnabled() and path.read_text() == STATION  # nothing written before Save
    qtbot.mouseClick(panel.save_button, Qt.LeftButton)
    text = path.read_text()
    assert "# the line 3 station: keep this comment" in text and 'id = "cam1"   # top camera' in text
    assert "threshold = 30.5" in text and "roi = [8, 8, 96, 96]" in text
    assert path.stat().st_mode & 0o777 == 0o640
    window.slow_tick()
    assert "as in station.toml" in panel.unsaved_label.text() and "TEMPORARY" not in panel.value.text()
    assert not panel.save_button.isEnabled() and "TEMPORARY" not in panel.roi_label.text()
    window.close_now()
    restarted = open_station(load_config(path))  # a restart starts with what was saved
    assert restarted.station.threshold == 30.5 and restarted.station.cameras["cam1"].roi == (8, 8, 96, 96)
    unlock(restarted)
    restarted.engineer._bundle_threshold()  # "Model's own" and Save: the override line goes away
    restarted.slow_tick()
    assert "the bundle's own (station config: 30.5)" in restarted.engineer.unsaved_label.text()
    assert restarted.engineer.save_to_config()
    assert "threshold =" not in path.read_text() and load_config(path).threshold is None


def test_a_layout_that_cannot_be_edited_safely_is_refused_and_left_alone(qtbot, open_station, tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    inline = STATION.replace(
        f'[model]\npath = "{DEMO}"  # the bundle\nthreads = 1\n', f'model = {{ path = "{DEMO}", threads = 1 }}\n'
    )
    path.write_text(inline)
    window = open_station(load_config(path))
    unlock(window)
    window.engineer.set_slider(31.0)
    window.engineer.apply.click()
    assert not window.engineer.save_to_config()
    assert path.read_text() == inline
    assert (
        "Not saved" in window.engineer.unsaved_label.text()
        and "[model] threshold = 31.0" in window.engineer.unsaved_label.text()
    )  # the line to write by hand


def test_without_a_station_config_the_gui_says_edits_end_with_it(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 1)
    unlock(window)
    window.engineer.set_slider(30.0)
    window.engineer.apply.click()
    window.slow_tick()
    assert "started without a station config" in window.engineer.unsaved_label.text()
    assert not window.engineer.save_button.isEnabled() and not window.engineer.save_to_config()


def test_a_threshold_outside_the_calibration_scores_is_warned_with_the_share_rejected(
    qtbot, open_station, tmp_path: Path
) -> None:
    scored = with_props(
        DEMO,
        tmp_path / "scored.onnx",
        threshold_method='{"deployed": {"threshold": 28.7, "good_scores": [20.0, 22.0, 24.0, 26.0, 28.0]}}',
    )
    window = open_station(single_camera_config(scored, [camera("cam1")], threshold=18.0))
    window.slow_tick()  # the override from the config: the operator sees it too
    assert window.banner.isVisible() and "would reject 100% of the good calibration images" in window.banner.text()
    unlock(window)
    panel = window.engineer
    panel.set_slider(25.0)  # inside the good scores: no warning
    assert panel.far_label.isHidden()
    panel.set_slider(30.0)
    assert panel.far_label.isVisible() and "outside the good calibration scores [20, 28]" in panel.far_label.text()
    assert "reject 0% of the good calibration images" in panel.far_label.text()
    panel.apply.click()
    window.slow_tick()
    assert "Threshold 30: " in window.banner.text() and "applied, but threshold 30" in window.notice.text()
    panel._bundle_threshold()  # the bundle's own: nothing to warn
    window.slow_tick()
    assert window.banner.isHidden()


def test_an_old_bundle_without_scores_is_warned_when_far_from_its_threshold(qtbot, make_window) -> None:
    window = make_window()
    wait_records(qtbot, window, 1)
    unlock(window)
    window.engineer.set_slider(0.42)  # the old example's override on the demo bundle (threshold 28.7)
    assert window.engineer.far_label.isVisible() and "far below" in window.engineer.far_label.text()
    # the running threshold is untouched until Apply: no banner
    window.slow_tick()
    assert window.banner.isHidden()
