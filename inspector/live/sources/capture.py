"""The OpenCV VideoCapture wrapper shared by the device, URL and video-file kinds."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from inspector.imageio import to_rgb8
from inspector.live.sources.base import Source, SourceError, check_frame


class CaptureSource(Source):
    """Opens `target()` with OpenCV; frames are converted BGR -> RGB on every read, every connection."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cap: cv2.VideoCapture | None = None

    def target(self) -> int | str:
        raise NotImplementedError

    def open_params(self) -> list[int]:
        timeout_ms = int(float(self.options.get("open_timeout_s") or 10) * 1000)
        return [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]

    def open(self) -> None:
        cap = cv2.VideoCapture(self.target(), cv2.CAP_ANY, self.open_params())
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.describe()}: cannot open")
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 1)  # some backends forget this after a reconnect
        self._cap = cap

    def grab_raw(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.describe()}: not open")
        ok, frame = self._cap.read()
        return frame if ok and frame is not None and frame.size else None

    def read(self) -> np.ndarray:
        frame = self.grab_raw()
        if frame is None:
            raise SourceError(f"{self.describe()}: read failed (stream ended or camera gone)")
        return check_frame(to_rgb8(frame), self.describe())

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
