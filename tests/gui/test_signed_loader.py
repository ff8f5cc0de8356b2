"""Issue 11 item 20 in the GUI, with real widgets: a station that lists trusted keys shows MODEL ERROR for an
unsigned bundle at start, and its "Load bundle..." button refuses a bundle signed by another key, naming the
keys, while the running model keeps going; a bundle signed by the trusted key is loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

from bundle_edit import with_props
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QPushButton
from qt_helpers import DEMO, unlock

from inspector.live.config import load_config
from inspector.operator.state import Phase
from inspector.signing import new_key, sign_bundle

STATION = """\
schema_version = 1
station = "signed"
[model]
path = "model.onnx"
threads = 1
trusted_keys = ["keys/plant.pub"]
[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 10
size = 128
"""


def _station(tmp_path: Path) -> tuple[Path, Path, str]:
    shutil.copy(DEMO, tmp_path / "model.onnx")
    (tmp_path / "model.onnx.sha256").write_text(
        DEMO.with_name("demo.onnx.sha256").read_text().replace("demo.onnx", "model.onnx")
    )
    (tmp_path / "station.toml").write_text(STATION)
    key, _, ident = new_key(tmp_path / "keys", "plant")
    return tmp_path / "station.toml", key, ident


def test_an_unsigned_bundle_is_model_error_at_start(qtbot, open_station, tmp_path: Path) -> None:
    config, _, ident = _station(tmp_path)
    window = open_station(load_config(config))
    window.slow_tick()
    assert window.station.phase is Phase.MODEL_ERROR and window.phase_pill.text() == "MODEL ERROR"
    assert "not signed" in window.banner.text() and f"{ident} (plant.pub)" in window.banner.text()


def test_the_model_loader_refuses_a_foreign_signature_and_takes_a_trusted_one(
    qtbot, open_station, tmp_path: Path, monkeypatch
) -> None:
    config, key, ident = _station(tmp_path)
    sign_bundle(tmp_path / "model.onnx", key)
    window = open_station(load_config(config))
    assert window.station.phase is Phase.RUNNING
    running = window.station.engine.fingerprint
    other_key, _, other_id = new_key(tmp_path / "elsewhere", "laptop")
    candidate = with_props(DEMO, tmp_path / "new" / "candidate.onnx", threshold="30.0")
    sign_bundle(candidate, other_key)
    # the operating system's file picker is the one part replaced: it "chooses" the candidate
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(candidate), "Model bundles (*.onnx)"))
    unlock(window)
    load = next(b for b in window.engineer.findChildren(QPushButton) if b.text() == "Load bundle...")
    qtbot.mouseClick(load, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.notice_row.isVisible(), timeout=30000)  # the window's timer shows messages
    notice = window.notice.text()
    assert f"signed by key {other_id}" in notice and f"expected key {ident} (plant.pub)" in notice
    assert "The running model keeps going." in notice and window.station.engine.fingerprint == running
    sign_bundle(candidate, key)
    qtbot.mouseClick(load, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.station.engine.fingerprint != running, timeout=30000)
    assert window.station.engine.threshold == 30.0 and window.station.phase is Phase.RUNNING
