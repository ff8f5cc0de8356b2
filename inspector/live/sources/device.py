"""A local camera by OpenCV device index (USB/UVC, V4L2)."""

from __future__ import annotations

from inspector.live.sources.base import Field, register_source
from inspector.live.sources.capture import CaptureSource


@register_source("device")
class DeviceSource(CaptureSource):
    live = True
    settings = {
        "index": Field((int,), required=True, help="OpenCV device index (0 = /dev/video0)"),
        "width": Field((int,), 0, help="requested frame width (0 = the camera's default)"),
        "height": Field((int,), 0, help="requested frame height (0 = the camera's default)"),
        "open_timeout_s": Field((int, float), 10.0, help="seconds OpenCV may take to open"),
    }

    def target(self) -> int:
        return int(self.options["index"])

    def open(self) -> None:
        super().open()
        assert self._cap is not None
        if self.options["width"]:
            self._cap.set(3, int(self.options["width"]))  # CAP_PROP_FRAME_WIDTH
        if self.options["height"]:
            self._cap.set(4, int(self.options["height"]))  # CAP_PROP_FRAME_HEIGHT
