"""run.json as a typed RunSummary, and the train/export options derived from the config dataclasses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.errors import InspectorError
from training.run_summary import RUN_FILE, RunSummary, load_summary


def _summary(**changes) -> RunSummary:
    values = {
        "task": "anomaly",
        "method": "patchcore",
        "backbone": "b",
        "class_names": ["good", "crack"],
        "image_size": (64, 96),
        "threshold": 1.5,
        "thresholds": {"deployed": {"threshold": 1.5}},
        "target_frr": 0.01,
        "metrics": {},
        "seed": 0,
        "data": "/d",
        "data_layout": "mvtec",
        "data_fingerprint": "f",
        "geometry": {"resize": "letterbox"},
        "stages": [1, 2],
        "details": {"fit_seconds": {"patchcore": 1.0}},
    }
    return RunSummary(**{**values, **changes})


def test_a_summary_round_trips_through_a_flat_run_json(tmp_path: Path) -> None:
    summary = _summary()
    summary.write(tmp_path)
    flat = json.loads((tmp_path / RUN_FILE).read_text())
    assert flat["fit_seconds"] == {"patchcore": 1.0} and flat["image_size"] == [64, 96]  # details at the top level
    again = load_summary(tmp_path)
    assert again == summary and again.resize == "letterbox" and again.image_size == (64, 96)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "segment"}, "task 'segment' is unknown"),
        ({"class_names": ["crack", "good"]}, "'good' first"),
        ({"threshold": float("nan")}, "finite number"),
        ({"target_frr": 1.5}, "between 0 and 1"),
        ({"thresholds": {}}, "'deployed'"),
        ({"geometry": {"resize": "fisheye"}}, "resize 'fisheye' is unknown"),
    ],
)
def test_a_bad_summary_names_the_field(changes: dict, message: str) -> None:
    with pytest.raises(InspectorError, match=message):
        _summary(**changes)


def test_a_run_json_without_a_field_names_it(tmp_path: Path) -> None:
    flat = _summary().to_dict()
    del flat["data_fingerprint"]
    (tmp_path / RUN_FILE).write_text(json.dumps(flat))
    with pytest.raises(InspectorError, match="field 'data_fingerprint' is missing"):
        load_summary(tmp_path)
    (tmp_path / RUN_FILE).write_text("{not json")
    with pytest.raises(InspectorError, match="cannot be read as JSON"):
        load_summary(tmp_path)


def test_export_of_a_folder_that_is_not_a_run_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "is not a training run (no run.json)" in capsys.readouterr().err


def test_options_come_from_the_config_fields(capsys) -> None:
    import argparse

    from export.cli import ExportConfig
    from training.config import AnomalyConfig, ClassifyConfig
    from training.options import add_options, config_from_args

    parser = argparse.ArgumentParser()
    added = add_options(parser, AnomalyConfig)
    add_options(parser, ClassifyConfig, skip=added)
    args = parser.parse_args(["--data", "d", "--out", "o", "--coreset-size", "64", "--no-flip", "--batch-size", "4"])
    anomaly = config_from_args(AnomalyConfig, args, image_size=128)
    assert (anomaly.coreset_size, anomaly.image_size, anomaly.batch_size, anomaly.data) == (64, 128, 16, Path("d"))
    classify = config_from_args(ClassifyConfig, args, image_size=64)
    assert classify.flips is False and classify.rot90 is True and classify.batch_size == 4
    export_parser = argparse.ArgumentParser()
    add_options(export_parser, ExportConfig)
    cfg = config_from_args(ExportConfig, export_parser.parse_args(["run", "--out", "m.onnx", "--precision", "int8"]))
    assert cfg == ExportConfig(run=Path("run"), out=Path("m.onnx"), precision="int8")
    with pytest.raises(SystemExit):
        export_parser.parse_args(["run", "--out", "m.onnx", "--precision", "int4"])
