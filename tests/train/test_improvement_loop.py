"""The plant's improvement loop end to end (docs/improvement-loop.md, issue 10 item 6): operators' corrections
go to the review queue, `inspector train --add-reviewed` retrains on them, the exported candidate runs in
shadow mode beside production on a live station, and is promoted only after the golden self-test, then rolled
back. Real training and export (tiny synthetic parts), real bundles and onnxruntime sessions, a real station
with a folder camera, the real golden set and audit trail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.audit import AuditLog
from inspector.bundle.session import load_bundle
from inspector.cli import main
from inspector.engine import Engine
from inspector.imageio import read_image
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.record import FrameRecord
from inspector.live.station import build_station
from inspector.operator.review import ESCAPE, FALSE_REJECT, ReviewQueue
from inspector.synthetic import make_part, write_dataset

torch = pytest.importorskip("torch", reason="needs the 'train' extra (torch, timm)")
pytestmark = pytest.mark.timeout(300)

SMALL = ["--image-size", "64", "--method", "padim", "--no-progress"]


def _train_and_export(data: Path, out: Path, *extra: str) -> Path:
    assert main(["train", "--data", str(data), "--out", str(out), *extra, *SMALL]) == 0
    bundle = out / "model.onnx"
    assert main(["export", str(out), "--out", str(bundle)]) == 0
    return bundle


def _line(folder: Path) -> dict[str, str | None]:
    """What the camera sees: new good parts and parts with defects, written as the folder camera reads them."""
    from PIL import Image

    folder.mkdir(parents=True)
    kinds: dict[str, str | None] = {}
    for i in range(6):
        defect = None if i % 2 == 0 else ("scratch", "spot", "crack")[i // 2]
        name = f"part{i:02d}.png"
        image = make_part(np.random.default_rng(500 + i), size=(64, 64), defect=defect).image
        Image.fromarray(image).save(folder / name)
        kinds[name] = defect
    return kinds


def _config(folder: Path, production: Path, candidate: Path) -> Path:
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "loop"
[model]
path = "{production}"
[[cameras]]
id = "cam"
reject_repeats = false
max_fps = 100
[cameras.source]
kind = "folder"
path = "{folder / "line"}"
fps = 100
[shadow]
model = "{candidate}"
''')
    return path


def _wait(check, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_review_retrain_shadow_promote_rollback(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", size=(64, 64), n_train=4, n_val=2, n_test=2, n_defect=2, seed=1)
    production_path = _train_and_export(data, tmp_path / "v1")
    production = Engine(load_bundle(production_path, threads=1))
    kinds = _line(tmp_path / "line")

    # 1. review: the operator disputes two good parts and one defective part, as the GUI's part window does
    queue = ReviewQueue(tmp_path / "review")
    images = {name: read_image(tmp_path / "line" / name) for name in kinds}
    results = {name: production.inspect([image])[0] for name, image in images.items()}
    marked = {FALSE_REJECT: 0, ESCAPE: 0}
    for frame_id, (name, defect) in enumerate(sorted(kinds.items()), start=1):
        record = FrameRecord("loop", "cam", frame_id, 1_700_000_000.0 + frame_id, results[name], images[name])
        kind = FALSE_REJECT if defect is None else ESCAPE
        if marked[kind] < (2 if kind == FALSE_REJECT else 1):
            queue.add(record, kind, label=defect)
            marked[kind] += 1

    # 2. retrain on the corrections, 3. export the candidate
    candidate_path = _train_and_export(data, tmp_path / "v2", "--add-reviewed", str(queue.root))
    reviewed = json.loads((tmp_path / "v2" / "run.json").read_text())["reviewed"]
    assert (reviewed["train_good"], reviewed["val_defects"]) == (2, 1)
    candidate = Engine(load_bundle(candidate_path, threads=1))
    assert candidate.fingerprint != production.fingerprint

    # 4. shadow: the candidate judges the live frames beside production
    config = load_config(_config(tmp_path, production_path, candidate_path))
    golden = GoldenSet(config.data_dir / "golden")
    goods = sorted((n for n in kinds if kinds[n] is None), key=lambda n: results[n].score)
    defects = sorted((n for n in kinds if kinds[n] is not None), key=lambda n: -results[n].score)
    golden.add(tmp_path / "line" / goods[0], "OK", production)  # the clearest good part
    if results[defects[0]].verdict.value == "NG":
        golden.add(tmp_path / "line" / defects[0], "NG", production)  # and the clearest reject, when there is one
    station = build_station(config)
    station.start()
    try:
        assert _wait(lambda: (s := station.snapshot().shadow) is not None and s.compared >= 2 * len(kinds), 60)
        shadow = station.snapshot().shadow
        assert shadow is not None and shadow.model_fingerprint == candidate.fingerprint
        assert shadow.agree + sum(shadow.disagree.values()) == shadow.compared

        # 5. promote (the golden self-test runs on the candidate first), 6. roll back
        outcome = station.promote_shadow(who="eng-anna", why="reviewed parts added")
        assert outcome.ok, outcome.text
        assert outcome.golden is not None and len(outcome.golden["rows"]) == len(golden.samples())
        assert station.engine.fingerprint == candidate.fingerprint
        assert _wait(lambda: station.snapshot().model_fingerprint == candidate.fingerprint, 10)
        back = station.rollback(who="eng-anna", why="trial over")
        assert back.ok and station.engine.fingerprint == production.fingerprint
    finally:
        assert station.stop(5.0)
    actions = [e["action"] for e in AuditLog(config.data_dir / "audit.jsonl").entries()]
    assert actions == ["shadow_promote", "shadow_rollback"]
