"""The one atomic-write helper: temp file beside the target, fsync, rename, fsync of the folder.

Every file Inspector writes whole (batch results and summaries, checksum sidecars, saved images, GUI
settings, signatures) goes through `atomic_write`, so a reader sees the old file or the new one, never
a part. `durable=False` skips the two fsyncs for files that can be rebuilt (reports), keeping the
atomic rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

WriteBytes = Callable[[int, memoryview], int]


def temp_path(final: Path) -> Path:
    """Where `atomic_write` stages `final` (hidden, same folder, so the rename stays on one filesystem)."""
    return final.with_name(f".{final.name}.tmp")


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike, data: bytes | str, *, durable: bool = True, mode: int = 0o644, write: WriteBytes = os.write
) -> Path:
    """Write `data` to `path` atomically; with `durable` (default) it is on disk when this returns.

    On any OSError the temp file is removed and the error re-raised; the old file, if any, is untouched.
    `write` is the low-level write (tests inject a full disk).
    """
    final = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    temp = temp_path(final)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        view = memoryview(payload)
        while view:
            view = view[write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(temp, final)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(final.parent)
    return final
