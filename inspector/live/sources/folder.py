"""An image folder replayed as a camera at a set FPS (sorted by name, looped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inspector.errors import ImageReadError
from inspector.imageio import is_image_file, read_image
from inspector.live.settings import setting
from inspector.live.sources.base import (
    FrameError,
    Pacer,
    Source,
    SourceError,
    SourceSettings,
    register_source,
)


class FolderSettings(SourceSettings):
    path: str = setting(help="folder of PNG/JPEG/BMP/TIFF images")
    fps: float = setting(5.0, help="replay rate in frames per second", ge=0)
    loop: bool = setting(True, help="start again after the last image")


@register_source("folder")
class FolderSource(Source):
    live = False
    Settings = FolderSettings

    def open(self) -> None:
        root = Path(self.options["path"])
        if not root.is_dir():
            raise SourceError(f"{self.describe()}: folder not found")
        self._files = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
        if not self._files:
            raise SourceError(f"{self.describe()}: no images in the folder")
        self._index = 0
        self._pacer = Pacer(float(self.options["fps"]), self.clock, self.sleep)

    def read(self) -> np.ndarray:
        if self._index >= len(self._files):
            if not self.options["loop"]:
                raise SourceError(f"{self.describe()}: all {len(self._files)} images replayed")
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        try:
            return read_image(path)
        except ImageReadError as exc:
            raise FrameError(f"{self.describe()}: {exc.message}") from exc
