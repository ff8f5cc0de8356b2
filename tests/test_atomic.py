"""Issue 11 item 22: one atomic-write helper, durable by default, used by the sidecar and the GUI settings."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

import inspector.atomic as atomic
from inspector.atomic import atomic_write
from inspector.bundle.verify import write_sidecar
from inspector.operator.settings import Settings


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_text("old")

    def full(fd: int, data: memoryview) -> int:
        os.write(fd, bytes(data[:3]))
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, b"new contents", write=full)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_sidecar_and_settings_are_fsynced_through_the_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model bytes")
    write_sidecar(model)
    settings = Settings(tmp_path / "gui" / "settings.json")
    settings.data["x"] = 1
    settings.save()
    names = {Path(p).name for p in synced}
    assert {".m.onnx.sha256.tmp", ".settings.json.tmp"} <= names, names
    assert stat.S_IMODE((tmp_path / "gui" / "settings.json").stat().st_mode) == 0o600
