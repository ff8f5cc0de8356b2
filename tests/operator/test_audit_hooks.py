"""The engineer's changes in the GUI's model write the audit trail: threshold and ROI apply, save to station config,
PIN set, change and reset (real files, real hash chain; `inspector audit verify` reads the same log)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fakes import DEMO

from inspector.audit import AuditLog
from inspector.live.config import load_config
from inspector.operator.config_save import SavedSettings
from inspector.operator.settings import Settings
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation


def test_threshold_roi_and_save_are_audited(tmp_path: Path) -> None:
    shutil.copy(DEMO, tmp_path / "model.onnx")
    shutil.copy(f"{DEMO}.sha256", tmp_path / "model.onnx.sha256")
    (tmp_path / "station.toml").write_text("""schema_version = 1
station = "audited"
[model]
path = "model.onnx"
[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 2
""")
    live = LiveStation(load_config(tmp_path / "station.toml"), config_sinks=False, disk_paths=[])
    live.start().result(60)
    try:
        assert live.phase is Phase.RUNNING, live.error
        old = live.station.engine.threshold
        live.set_threshold(30.5)
        live.set_roi("cam1", (8, 8, 96, 96))
        SavedSettings(live.config).save(live)
    finally:
        assert live.close()
    log = AuditLog(tmp_path / "audit.jsonl")
    entries = list(log.entries())
    assert [(e["action"], e["old"], e["new"]) for e in entries[:2]] == [
        ("threshold", old, 30.5),
        ("roi", None, [8, 8, 96, 96]),
    ]
    assert entries[2]["action"] == "config_save" and entries[2]["new"]["threshold"] == 30.5
    assert all(e["who"].startswith("gui:") for e in entries) and log.verify() == (3, None)


def test_pin_changes_are_audited_without_the_pin(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "gui.json")
    settings.set_pin("123456")
    settings.set_pin("654321", old="123456")
    settings.reset_pin("111111")
    log = AuditLog(tmp_path / "audit.jsonl")
    entries = list(log.entries())
    assert [(e["action"], e["why"]) for e in entries] == [
        ("pin", "first PIN set"),
        ("pin", "changed with the old PIN"),
        ("pin", "reset without the old PIN (admin)"),
    ]
    text = (tmp_path / "audit.jsonl").read_text()
    assert "123456" not in text and "654321" not in text and settings.data["pins"]["engineer"]["hash"] not in text
    assert log.verify() == (3, None)
