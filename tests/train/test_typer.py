"""Defect type in the same station (issue 10 item 5): `inspector train --task classify` on defect types only
(no good class) trains and exports a typer; chained after an anomaly bundle it names the type of each NG part,
and of no OK part, in batch (the real CLI) and in a live station built from a config (real onnxruntime, SQLite)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from inspector.cli import main

pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
pytest.importorskip("timm", reason="needs the 'train' extra (torch, timm)")
SIZE = 64
TYPES = ["crack", "scratch", "spot"]


@pytest.fixture(scope="session")
def typer_data(tmp_path_factory) -> Path:
    """Class folders crack/scratch/spot and no good/ (a steel-surface set of defect types only)."""
    from inspector.synthetic import write_dataset

    data = write_dataset(
        tmp_path_factory.mktemp("typer") / "data",
        layout="folders",
        size=(96, 96),
        n_train=1,
        n_val=1,
        n_test=1,
        n_defect=5,
        seed=2,
    )
    shutil.rmtree(data / "good")
    return data


@pytest.fixture(scope="session")
def typer_bundle(tmp_path_factory, typer_data) -> Path:
    run = tmp_path_factory.mktemp("typer_run") / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(typer_data),
                "--task",
                "classify",
                "--out",
                str(run),
                "--image-size",
                str(SIZE),
                "--batch-size",
                "8",
                "--epochs",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    bundle = run.parent / "typer.onnx"
    assert main(["export", str(run), "--out", str(bundle)]) == 0
    return bundle


def test_classify_on_defect_types_only_trains_and_exports_a_typer(typer_bundle: Path) -> None:
    from inspector.bundle.session import load_bundle
    from inspector.engine import Engine
    from inspector.errors import BundleError
    from inspector.synthetic import make_part
    from inspector.typer import Typer

    summary = json.loads((typer_bundle.parent / "run" / "run.json").read_text())
    assert summary["role"] == "typer" and summary["class_names"] == TYPES
    assert "never decides OK/NG" in (typer_bundle.parent / "run" / "report.md").read_text()
    bundle = load_bundle(typer_bundle)
    assert bundle.metadata.is_typer and bundle.metadata.class_names == TYPES
    rng = np.random.default_rng(0)
    images = [make_part(rng, size=(96, 96), defect=t).image for t in TYPES]
    named = Typer(bundle).name(images)
    assert [n.name in TYPES and 0 < n.probability <= 1 for n in named] == [True] * 3
    probs = bundle.session.run(["probs", "score"], {"image": np.stack([np.zeros((SIZE, SIZE, 3), np.uint8)])})
    assert np.allclose(probs[1], 1 - probs[0].max(1), atol=1e-6)  # a typer's score: 1 - the top probability
    with pytest.raises(BundleError, match="typer"):  # its score never decides OK/NG
        Engine(bundle)


def test_a_verdict_bundle_is_not_accepted_as_a_typer(patchcore_bundle) -> None:
    from inspector.bundle.session import load_bundle
    from inspector.errors import BundleError
    from inspector.typer import Typer

    with pytest.raises(BundleError, match="not a typer"):
        Typer(load_bundle(patchcore_bundle[1]))


def test_batch_chained_gives_a_type_for_each_ng_part_and_none_for_ok(
    patchcore_bundle, typer_bundle: Path, synthetic_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "batch",
                str(synthetic_data),
                "--model",
                str(patchcore_bundle[1]),
                "--typer",
                str(typer_bundle),
                "--out",
                str(out),
                "--split",
                "test",
                "--no-progress",
            ]
        )
        == 0
    )
    with (out / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    ng = [r for r in rows if r["verdict"] == "NG"]
    assert ng and any(r["verdict"] == "OK" for r in rows)
    assert all(r["defect_type"] in TYPES for r in ng)
    assert all(r["defect_type"] == "" for r in rows if r["verdict"] != "NG")
    report = (out / "report.html").read_text()
    assert "NG by defect type" in report
    pareto = json.loads((out / "summary.json").read_text())["ng_by_type"]
    assert sum(pareto.values()) == len(ng) and list(pareto.values()) == sorted(pareto.values(), reverse=True)


def test_batch_refuses_a_typer_as_the_model(typer_bundle: Path, synthetic_data: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            ["batch", str(synthetic_data), "--model", str(typer_bundle), "--out", str(tmp_path / "o"), "--no-progress"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "typer" in err and "--typer" in err and "Traceback" not in err


def test_live_station_chained_types_ng_parts_in_records_sqlite_and_report(
    patchcore_bundle, typer_bundle: Path, tmp_path: Path, capsys
) -> None:
    from inspector.live.camera import Frame
    from inspector.live.config import load_config
    from inspector.live.record import FrameRecord
    from inspector.live.sinks.base import Sink
    from inspector.live.station import build_station
    from inspector.synthetic import make_part

    class ListSink(Sink):
        kind = "list"

        def __init__(self) -> None:
            super().__init__(queue_size=64)
            self.records: list[FrameRecord] = []

        def write(self, record: FrameRecord) -> None:
            self.records.append(record)

    path = tmp_path / "station.toml"
    path.write_text(f'''schema_version = 1
station = "typed"
[model]
path = "{patchcore_bundle[1]}"
typer = "{typer_bundle}"
[pipeline]
queue_size = 8
max_batch = 8
[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
size = 96
[sinks.sqlite]
path = "log.db"
''')
    station = build_station(load_config(path), extra_sinks=[ListSink()])
    assert station.engine.typer is not None and station.engine.typer.class_names == TYPES
    rng = np.random.default_rng(3)
    parts = [make_part(rng, size=(96, 96), defect=d) for d in ["good", "crack", "good", "scratch", "spot", "good"]]
    for sink in station.sinks:
        sink.start()
    for i, part in enumerate(parts, start=1):
        station.pipeline.offer(Frame("cam1", i, part.image, float(i), float(i), 1.0))
    while station.pipeline.step():
        pass
    for sink in station.sinks:
        sink.stop(5.0)
    records = station.sinks[0].records
    assert len(records) == len(parts)
    ng = [r for r in records if r.result.is_ng]
    assert ng and any(r.result.verdict.value == "OK" for r in records)
    for r in records:
        if r.result.is_ng:
            assert r.result.defect_type in TYPES and 0 < (r.result.defect_type_probability or 0) <= 1
            assert r.summary()["defect_type"] == r.result.defect_type  # the MQTT payload
        else:
            assert r.result.defect_type is None and r.summary()["defect_type"] is None
    with sqlite3.connect(tmp_path / "log.db") as con:
        stored = con.execute("SELECT verdict, defect_type FROM inspections ORDER BY frame_id").fetchall()
    assert stored == [(r.result.verdict.value, r.result.defect_type) for r in records]
    capsys.readouterr()
    assert main(["report", "--db", str(tmp_path / "log.db"), "--by", "camera"]) == 0
    text = capsys.readouterr().out
    assert "NG by defect type (Pareto)" in text
    assert all(r.result.defect_type in text for r in ng)
    assert main(["report", "--db", str(tmp_path / "log.db"), "--format", "json"]) == 0
    (group,) = json.loads(capsys.readouterr().out)
    assert sum(group["ng_by_type"].values()) == len(ng)
