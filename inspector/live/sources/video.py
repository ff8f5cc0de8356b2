"""A video file replayed as a camera, optionally looped, paced at its own (or a set) FPS."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspector.imageio import to_rgb8
from inspector.live.settings import setting
from inspector.live.sources.base import (
    Pacer,
    SourceError,
    SourceSettings,
    check_frame,
    register_source,
)
from inspector.live.sources.capture import CaptureSource


class VideoSettings(SourceSettings):
    path: str = setting(help="video file (any format OpenCV/FFmpeg reads)")
    loop: bool = setting(True, help="start again at the end; `false`: the camera goes DOWN at the end")
    fps: float = setting(0.0, help="replay rate; `0` = the file's own FPS", ge=0)


@register_source("video")
class VideoSource(CaptureSource):
    live = False
    Settings = VideoSettings

    def target(self) -> str:
        return str(self.options["path"])

    def open(self) -> None:
        if not Path(self.target()).is_file():
            raise SourceError(f"{self.describe()}: file not found")
        super().open()
        assert self._cap is not None
        fps = float(self.options["fps"] or self._cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self._pacer = Pacer(fps, self.clock, self.sleep)

    def read(self) -> np.ndarray:
        frame = self.grab_raw()
        if frame is None and self.options["loop"] and self._cap is not None:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            frame = self.grab_raw()
        if frame is None:
            raise SourceError(
                f"{self.describe()}: end of file"
                if self.options["loop"] is False
                else f"{self.describe()}: no frame could be decoded"
            )
        return check_frame(to_rgb8(frame), self.describe())
