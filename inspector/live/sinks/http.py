"""The HTTP sink kind: /metrics, /healthz, /readyz (implemented in inspector.live.http)."""

from inspector.live.http import HttpSink  # noqa: F401  (importing registers the "http" kind)
