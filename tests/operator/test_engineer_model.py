"""The engineer panel's model without Qt: the candidate threshold and its preview, the ROI line, the
camera-settings fields and the change they make (a real station on the demo bundle)."""

from __future__ import annotations

import pytest
from fakes import record

from inspector.errors import InspectorError
from inspector.live.sources import SOURCES
from inspector.operator.config_save import SavedSettings
from inspector.operator.engineer import ThresholdCandidate, camera_changes, camera_fields, roi_text
from inspector.operator.station import LiveStation


def test_the_candidate_opens_at_the_running_threshold_and_then_moves_only_by_hand(station: LiveStation) -> None:
    candidate = ThresholdCandidate(station)
    running = station.threshold
    assert running is not None and candidate.position() is None
    assert candidate.current() == running  # no candidate yet: the running one
    candidate.follow(opened=True)
    assert candidate.value == running
    candidate.set(running * 1.5)
    candidate.follow(opened=False)  # the same running threshold: the hand's value stays
    assert candidate.current() == running * 1.5
    candidate.follow(opened=True)  # the panel opened again: back to the running one
    assert candidate.current() == running
    candidate.set(running * 2.0)
    station.set_threshold(running * 0.9)
    candidate.follow(opened=False)  # a new running threshold resets it
    assert station.threshold == candidate.current() == pytest.approx(running * 0.9)
    station.set_threshold(running * 3.0)  # applied from the panel: the candidate and the running value
    candidate.applied(running * 3.0)
    candidate.set(running * 2.0)
    candidate.follow(opened=False)  # what the panel applied is no new running threshold to reset to
    assert candidate.current() == running * 2.0


def test_slider_positions_map_onto_a_scale_that_holds_the_recent_scores(station: LiveStation) -> None:
    candidate = ThresholdCandidate(station, steps=1000)
    running = station.threshold
    assert candidate.range() == (0.0, pytest.approx(running * 2.0 * 1.05))
    station.stats.ingest([record(running * 3.0, threshold=running)])  # a part scored above the scale
    low, high = candidate.range()
    assert (low, high) == (0.0, pytest.approx(running * 3.0 * 1.05))
    candidate.move_to(500)
    assert candidate.current() == pytest.approx(high / 2) and candidate.position() == 500
    candidate.move_to(1000)  # the end of the scale: the scale grows with the candidate, so it can go on
    assert candidate.current() == pytest.approx(high) and candidate.range()[1] == pytest.approx(high * 1.05)
    assert candidate.position() == round(1000 / 1.05)


def test_the_preview_counts_the_recent_parts_a_candidate_would_flip(station: LiveStation) -> None:
    running = station.threshold
    station.stats.ingest(
        [record(running * s, frame_id=i, threshold=running) for i, s in enumerate([0.5, 0.95, 1.05, 1.5])]
    )
    candidate = ThresholdCandidate(station)
    candidate.set(running * 0.9)
    assert candidate.preview() == "Of the last 4 parts, 1 OK would become NG and 0 NG would become OK."
    candidate.set(running * 1.2)
    assert candidate.preview() == "Of the last 4 parts, 0 OK would become NG and 1 NG would become OK."


def test_a_candidate_far_from_the_calibration_is_warned_as_a_sentence(station: LiveStation) -> None:
    candidate = ThresholdCandidate(station)
    candidate.set(station.threshold)
    assert candidate.far_warning() == ""
    candidate.set(0.42)  # the old example's override on the demo bundle (threshold 28.7)
    warning = candidate.far_warning()
    assert warning.startswith("\u26a0 ") and warning[2].isupper() and "far below" in warning and warning.endswith(".")


def test_the_roi_line_says_temporary_and_warns_off_the_calibrated_geometry(station: LiveStation) -> None:
    saved = SavedSettings(station.config)
    assert roi_text(station, saved, "cam1") == "Whole frame inspected."
    station.set_roi("cam1", (10, 12, 64, 80))
    text = roi_text(station, saved, "cam1")
    assert text.startswith("roi = [10, 12, 64, 80]  (TEMPORARY until restart") and "many parts may turn NG" in text
    with pytest.raises(InspectorError, match="too small"):
        station.set_roi("cam1", (0, 0, 8, 8))


def test_camera_fields_are_the_source_kinds_own_settings_and_give_back_the_change(station: LiveStation) -> None:
    cfg = station.cameras["cam1"]
    fields = camera_fields(cfg)
    assert [f.name for f in fields] == ["max_fps", *(f"source.{n}" for n in SOURCES["synthetic"].Settings.model_fields)]
    assert fields[0].value == cfg.max_fps and fields[1].label == fields[1].name.removeprefix("source.")
    values = {f.name: f.value for f in fields}
    changes = camera_changes(values)
    assert changes["max_fps"] == cfg.max_fps
    assert changes["source"] == {n: cfg.source.get(n) for n in SOURCES["synthetic"].Settings.model_fields}
    with pytest.raises(InspectorError, match="Camera settings not applied"):
        station.update_camera("cam1", **camera_changes({**values, "source.size": 0}))
    assert station.cameras["cam1"] == cfg  # refused: the running settings stay
    station.update_camera("cam1", **camera_changes({**values, "source.fps": 1.0})).result(30)
    assert station.cameras["cam1"].source["fps"] == 1.0
