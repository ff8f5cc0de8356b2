"""A local camera by OpenCV device index (USB/UVC, V4L2)."""

from __future__ import annotations

from inspector.live.settings import MAX_FRAME_SIDE, setting
from inspector.live.sources.base import SourceSettings, register_source
from inspector.live.sources.capture import CaptureSource


class DeviceSettings(SourceSettings):
    index: int = setting(help="OpenCV device index (`0` = /dev/video0)", ge=0)
    width: int = setting(0, help="requested frame width (`0` = the camera's default)", ge=0, le=MAX_FRAME_SIDE)
    height: int = setting(0, help="requested frame height (`0` = the camera's default)", ge=0, le=MAX_FRAME_SIDE)
    open_timeout_s: float = setting(10.0, help="seconds OpenCV may take to open", gt=0)


@register_source("device")
class DeviceSource(CaptureSource):
    live = True
    Settings = DeviceSettings

    def target(self) -> int:
        return int(self.options["index"])

    def open(self) -> None:
        super().open()
        assert self._cap is not None
        if self.options["width"]:
            self._cap.set(3, int(self.options["width"]))  # CAP_PROP_FRAME_WIDTH
        if self.options["height"]:
            self._cap.set(4, int(self.options["height"]))  # CAP_PROP_FRAME_HEIGHT
