"""The daemon's model reload (SIGHUP) writes the audit trail: refused and accepted reloads, chained."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_daemon import station

from inspector.audit import AuditLog
from inspector.live.config import load_config
from inspector.live.daemon import Daemon


def test_reload_is_audited(tmp_path: Path, tiny_bundle_path: Path) -> None:
    config = load_config(station(tmp_path, tiny_bundle_path))
    daemon = Daemon(config)
    running = daemon.pipeline.engine.fingerprint
    tampered = tmp_path / "tampered.onnx"
    shutil.copy(tiny_bundle_path, tampered)
    shutil.copy(f"{tiny_bundle_path}.sha256", f"{tampered}.sha256")
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    assert daemon.reload_model(tampered) is False
    assert daemon.reload_model(tiny_bundle_path) is True
    log = AuditLog(config.data_dir / "audit.jsonl")
    entries = list(log.entries())
    assert [(e["action"], e["old"], e["target"]) for e in entries] == [
        ("config_reload_refused", running, str(tampered)),
        ("config_reload", running, str(tiny_bundle_path)),
    ]
    assert entries[0]["who"].startswith("daemon:") and entries[1]["new"] == daemon.pipeline.engine.fingerprint
    assert log.verify() == (2, None)
