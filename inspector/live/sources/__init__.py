"""Camera sources: a registry of kinds (base.py), one small module per kind.

Importing this package registers every built-in kind; GenICam imports `harvesters` only when opened.
"""

from inspector.live.sources import device, folder, genicam, synthetic, url, video  # noqa: F401  (register kinds)
from inspector.live.sources.base import (
    SOURCES,
    Source,
    SourceError,
    SourceSettings,
    create_source,
    redact_url,
    register_source,
)

__all__ = ["SOURCES", "Source", "SourceError", "SourceSettings", "create_source", "redact_url", "register_source"]
