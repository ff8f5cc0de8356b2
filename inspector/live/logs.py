"""Structured log lines (key=value or JSON), one per event, with URL credentials redacted.

Call sites pass fields with `extra={"fields": {...}}`; the formatter adds ts, level, logger, msg.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from inspector.live.sources import redact_url


def _kv(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


class StructuredFormatter(logging.Formatter):
    """`ts=... level=info logger=... msg="..." key=value` (kv) or one JSON object (json) per line."""

    def __init__(self, style: str = "kv") -> None:
        super().__init__()
        self.json = style == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            fields["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}" if record.exc_info[0] else ""
        line = json.dumps(fields, default=str) if self.json else " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        return redact_url(line)


def setup_logging(level: str = "info", style: str = "kv", stream: TextIO | None = None) -> logging.Handler:
    """Route every `inspector` logger to one structured handler on `stream` (stderr: journald reads it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(style))
    root = logging.getLogger("inspector")
    for old in list(root.handlers):
        if isinstance(old.formatter, StructuredFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    return handler
