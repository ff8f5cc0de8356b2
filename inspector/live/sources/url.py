"""A network camera by URL (rtsp://, http:// MJPEG, ...) through OpenCV/FFmpeg; credentials are redacted."""

from __future__ import annotations

from inspector.live.sources.base import Field, redact_url, register_source
from inspector.live.sources.capture import CaptureSource


@register_source("url")
class UrlSource(CaptureSource):
    live = True
    settings = {
        "url": Field((str,), required=True, help="stream URL, e.g. rtsp://user:pass@10.0.0.5/stream1"),
        "open_timeout_s": Field((int, float), 10.0, help="seconds FFmpeg may take to connect"),
    }

    def target(self) -> str:
        return str(self.options["url"])

    def describe(self) -> str:
        return f"url({redact_url(self.target())})"
