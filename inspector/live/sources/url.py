"""A network camera by URL (rtsp://, http:// MJPEG, ...) through OpenCV/FFmpeg; credentials are redacted."""

from __future__ import annotations

from inspector.live.settings import setting
from inspector.live.sources.base import SourceSettings, redact_url, register_source
from inspector.live.sources.capture import CaptureSource


class UrlSettings(SourceSettings):
    url: str = setting(help="stream URL, e.g. `rtsp://user:pass@10.0.0.5/stream1`")
    open_timeout_s: float = setting(10.0, help="seconds FFmpeg may take to connect", gt=0)


@register_source("url")
class UrlSource(CaptureSource):
    live = True
    Settings = UrlSettings

    def target(self) -> str:
        return str(self.options["url"])

    def describe(self) -> str:
        return f"url({redact_url(self.target())})"
