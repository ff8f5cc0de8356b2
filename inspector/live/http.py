"""Health and metrics over HTTP (127.0.0.1 by default): /metrics (Prometheus text format), /healthz, /readyz.

The server owns no state: each request asks a provider callable for a `HealthSnapshot` (or a plain dict with
the same keys) and renders it. The pipeline fills the snapshot; `LatencyHistogram` is there for it to use.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from inspector.live.record import FrameRecord
from inspector.live.settings import setting
from inspector.live.sinks.base import Sink, SinkContext, SinkSettings, register_sink
from inspector.live.sources.base import redact_url

log = logging.getLogger(__name__)

DEFAULT_LATENCY_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_HTTP_THREADS = 8  # handler threads; more connections wait in line (idle ones time out after 5 s)
# sink counters exported per sink (a record lost anywhere shows here); rows_pending is a gauge
SINK_COUNTERS = ("lost", "lost_at_stop", "images_shed", "rows_lost", "disk_full_events", "image_failures")
SINK_GAUGES = ("rows_pending", "queued", "queued_image_bytes")


@dataclass
class CameraHealth:
    """One camera as the pipeline sees it."""

    up: bool = False
    frames: int = 0  # frames inspected since start
    dropped: int = 0  # frames dropped since start (queue full, drop-oldest)
    last_frame_age_s: float | None = None  # seconds since the last good frame; None: none yet


@dataclass
class LatencyHistogram:
    """A cumulative histogram of seconds (Prometheus semantics); `observe` is thread-safe."""

    buckets_s: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_S  # upper bounds, ascending, +Inf implied
    counts: list[int] = field(default_factory=list)  # per bucket, NOT cumulative; len(buckets_s) + 1 (overflow)
    sum_s: float = 0.0
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.buckets_s = tuple(float(b) for b in self.buckets_s)
        if list(self.buckets_s) != sorted(set(self.buckets_s)):
            raise ValueError(f"histogram buckets must be strictly ascending, got {self.buckets_s}")
        if not self.counts:
            self.counts = [0] * (len(self.buckets_s) + 1)
        if len(self.counts) != len(self.buckets_s) + 1:
            raise ValueError(f"counts needs {len(self.buckets_s) + 1} entries (one per bucket + overflow)")

    @classmethod
    def from_samples(cls, samples_s: Iterable[float],
                     buckets_s: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_S) -> LatencyHistogram:
        hist = cls(buckets_s=buckets_s)
        for s in samples_s:
            hist.observe(s)
        return hist

    def observe(self, seconds: float) -> None:
        seconds = float(seconds)
        index = next((i for i, bound in enumerate(self.buckets_s) if seconds <= bound), len(self.buckets_s))
        with self._lock:
            self.counts[index] += 1
            self.sum_s += seconds
            self.count += 1

    def copy(self) -> LatencyHistogram:
        with self._lock:
            return LatencyHistogram(self.buckets_s, list(self.counts), self.sum_s, self.count)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs, ending with (+inf, count)."""
        out, total = [], 0
        for bound, n in zip((*self.buckets_s, math.inf), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


@dataclass
class HealthSnapshot:
    """What /metrics and /readyz show; the provider may return this or a dict with these keys."""

    station: str = ""
    model_loaded: bool = False
    cameras: dict[str, CameraHealth] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=lambda: {"OK": 0, "NG": 0})  # counts since start
    latency: LatencyHistogram | None = None  # end to end (capture -> verdict), seconds
    latency_samples_s: list[float] = field(default_factory=list)  # used when `latency` is None: all samples
    stage_latency: dict[str, LatencyHistogram] = field(default_factory=dict)  # capture/preprocess/inference
    sink_failures: dict[str, int] = field(default_factory=dict)  # sink kind -> failed write attempts
    sink_dropped: dict[str, int] = field(default_factory=dict)  # sink kind -> records dropped (queue full)
    alarms: list[str] = field(default_factory=list)  # active alarms, e.g. "disk_full" (degraded, still running)
    errors: int = 0  # inspection errors since start (bad frame, inference failure)
    pipeline_ready: bool = True  # the pipeline's own verdict (False: not ready whatever else says)
    not_ready: list[str] = field(default_factory=list)  # the pipeline's reasons (sinks, failing inspection)
    sink_stats: dict[str, dict[str, int]] = field(default_factory=dict)  # sink kind -> SINK_COUNTERS/GAUGES

    @classmethod
    def coerce(cls, value: HealthSnapshot | Mapping[str, Any]) -> HealthSnapshot:
        """Accept a snapshot or a plain dict (nested dicts for cameras/histograms); unknown keys are errors."""
        if isinstance(value, HealthSnapshot):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"health provider must return a HealthSnapshot or dict, got {type(value).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise KeyError(f"unknown health snapshot key(s) {unknown}; expected some of {sorted(known)}")
        data = dict(value)
        data["cameras"] = {str(k): v if isinstance(v, CameraHealth) else CameraHealth(**v)
                           for k, v in dict(data.get("cameras", {})).items()}
        if isinstance(data.get("latency"), Mapping):
            data["latency"] = LatencyHistogram(**data["latency"])
        data["stage_latency"] = {k: v if isinstance(v, LatencyHistogram) else LatencyHistogram(**v)
                                 for k, v in dict(data.get("stage_latency", {})).items()}
        return cls(**data)

    @classmethod
    def from_pipeline(cls, snap: Mapping[str, Any]) -> HealthSnapshot:
        """Adapt `Pipeline.snapshot()` (its dict) to this shape; latency comes from the HTTP sink's histograms."""
        cameras = {str(cam): CameraHealth(up=bool(c.get("up")), frames=int(c.get("inspected", c.get("frames", 0))),
                                          dropped=int(c.get("dropped", 0)), last_frame_age_s=c.get("last_frame_age_s"))
                   for cam, c in dict(snap.get("cameras", {})).items()}
        sinks = dict(snap.get("sinks", {}))
        return cls(station=str(snap.get("station", "")), model_loaded=bool(snap.get("model_fingerprint")),
                   cameras=cameras, verdicts=dict(snap.get("verdicts", {})),
                   sink_failures={k: int(v.get("failures", 0)) for k, v in sinks.items()},
                   sink_dropped={k: int(v.get("dropped", 0)) for k, v in sinks.items()},
                   alarms=[*snap.get("alarms", []),
                           *(f"{k}_degraded" for k, v in sinks.items() if v.get("alarm") or v.get("degraded"))],
                   errors=int(snap.get("errors", 0)),
                   pipeline_ready=bool(snap.get("ready", True)), not_ready=list(snap.get("not_ready", [])),
                   sink_stats={k: {name: int(v[name]) for name in (*SINK_COUNTERS, *SINK_GAUGES) if name in v}
                               for k, v in sinks.items()})

    def readiness(self) -> tuple[bool, list[str]]:
        """Ready when the model is loaded and every camera (at least one) is up; else the reasons."""
        reasons = [] if self.model_loaded else ["model not loaded"]
        if not self.cameras:
            reasons.append("no cameras")
        reasons += [f"camera {redact_url(cam)} down" for cam, health in sorted(self.cameras.items()) if not health.up]
        reasons += [redact_url(r) for r in self.not_ready if not r.startswith("camera ") and r not in reasons]
        if not self.pipeline_ready and not reasons:
            reasons.append("pipeline not ready")
        return not reasons, reasons


# Prometheus text exposition ---------------------------------------------------------------------------
def _label(value: object) -> str:
    text = redact_url(str(value))
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: object) -> None:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")

    def histogram(self, name: str, hist: LatencyHistogram, **labels: object) -> None:
        for bound, total in hist.cumulative():
            self.sample(f"{name}_bucket", total, **labels, le="+Inf" if math.isinf(bound) else _number(bound))
        self.sample(f"{name}_sum", float(hist.sum_s), **labels)
        self.sample(f"{name}_count", hist.count, **labels)


def render_metrics(snap: HealthSnapshot, *, started_at: float | None = None) -> str:
    """The snapshot in Prometheus text format 0.0.4."""
    out = _Exposition()
    ready, _ = snap.readiness()
    out.family("inspector_ready", "gauge", "1 when the model is loaded and every camera is up")
    out.sample("inspector_ready", ready)
    out.family("inspector_model_loaded", "gauge", "1 when the model bundle is loaded")
    out.sample("inspector_model_loaded", snap.model_loaded)
    if started_at is not None:
        out.family("inspector_start_time_seconds", "gauge", "Unix time the daemon started")
        out.sample("inspector_start_time_seconds", float(started_at))
    cams = sorted(snap.cameras.items())
    for name, kind, help_text, get in (
        ("inspector_camera_up", "gauge", "1 while the camera delivers frames", lambda c: c.up),
        ("inspector_frames_total", "counter", "Frames inspected", lambda c: int(c.frames)),
        ("inspector_dropped_frames_total", "counter", "Frames dropped to keep latency bounded",
         lambda c: int(c.dropped)),
        ("inspector_last_frame_age_seconds", "gauge", "Seconds since the camera's last good frame (+Inf: none)",
         lambda c: math.inf if c.last_frame_age_s is None else float(c.last_frame_age_s)),
    ):
        out.family(name, kind, help_text)
        for cam, health in cams:
            out.sample(name, get(health), camera=cam)
    out.family("inspector_errors_total", "counter", "Inspection errors (bad frame, inference failure)")
    out.sample("inspector_errors_total", int(snap.errors))
    out.family("inspector_verdicts_total", "counter", "Parts inspected by verdict")
    verdicts = {"OK": 0, "NG": 0, **snap.verdicts}
    for verdict, n in sorted(verdicts.items()):
        out.sample("inspector_verdicts_total", int(n), verdict=verdict)
    latency = snap.latency or LatencyHistogram.from_samples(snap.latency_samples_s)
    out.family("inspector_latency_seconds", "histogram", "End-to-end latency, capture to verdict")
    out.histogram("inspector_latency_seconds", latency)
    if snap.stage_latency:
        out.family("inspector_stage_latency_seconds", "histogram", "Latency per pipeline stage")
        for stage, hist in sorted(snap.stage_latency.items()):
            out.histogram("inspector_stage_latency_seconds", hist, stage=stage)
    out.family("inspector_sink_failures_total", "counter", "Failed sink write attempts (retried)")
    for sink, n in sorted(snap.sink_failures.items()):
        out.sample("inspector_sink_failures_total", int(n), sink=sink)
    out.family("inspector_sink_dropped_total", "counter", "Records a sink dropped because its queue was full")
    for sink, n in sorted(snap.sink_dropped.items()):
        out.sample("inspector_sink_dropped_total", int(n), sink=sink)
    for name in (*SINK_COUNTERS, *SINK_GAUGES):
        counter = name in SINK_COUNTERS
        family = f"inspector_sink_{name}_total" if counter else f"inspector_sink_{name}"
        out.family(family, "counter" if counter else "gauge", f"Sink {name.replace('_', ' ')}")
        for sink, stats in sorted(snap.sink_stats.items()):
            if name in stats:
                out.sample(family, int(stats[name]), sink=sink)
    out.family("inspector_alarm", "gauge", "1 for each active alarm (degraded but running)")
    for alarm in sorted(set(snap.alarms)):
        out.sample("inspector_alarm", 1, alarm=alarm)
    return "\n".join(out.lines) + "\n"


# server ------------------------------------------------------------------------------------------------
Provider = Callable[[], "HealthSnapshot | Mapping[str, Any]"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/healthz":
            self._send(200, "application/json", json.dumps({"status": "ok"}))
        elif path == "/readyz":
            snap = self.server.snapshot()
            ready, reasons = snap.readiness() if snap is not None else (False, ["health snapshot unavailable"])
            self._send(200 if ready else 503, "application/json", json.dumps({"ready": ready, "reasons": reasons}))
        elif path == "/metrics":
            snap = self.server.snapshot()
            if snap is None:
                self._send(500, "text/plain; charset=utf-8", "health snapshot unavailable\n")
            else:
                self._send(200, PROMETHEUS_CONTENT_TYPE, render_metrics(snap, started_at=self.server.started_at))
        else:
            self._send(404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz or /readyz\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.debug("http %s %s", self.address_string(), redact_url(format % args))


class _Server(ThreadingHTTPServer):
    """At most MAX_HTTP_THREADS handler threads, started once; further connections wait in a queue."""

    daemon_threads = True
    provider: Provider
    started_at: float

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._requests: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self._workers = [threading.Thread(target=self._work, name=f"health-http-{i}", daemon=True)
                         for i in range(MAX_HTTP_THREADS)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self._requests.put((request, client_address))

    def _work(self) -> None:
        while (item := self._requests.get()) is not None:
            self.process_request_thread(*item)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            self._requests.put(None)

    def snapshot(self) -> HealthSnapshot | None:
        try:
            return HealthSnapshot.coerce(self.provider())
        except Exception as exc:  # a broken provider is a 500/503, never a dead server
            log.error("health provider failed: %s: %s", type(exc).__name__, redact_url(str(exc)))
            return None


class HealthServer:
    """/metrics, /healthz, /readyz on host:port (port 0: any free port) in a background thread."""

    def __init__(self, provider: Provider, *, host: str = "127.0.0.1", port: int = 9108) -> None:
        self.provider = provider
        self.host = host
        self.requested_port = int(port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        server = _Server((self.host, self.requested_port), _Handler)
        server.provider = self.provider
        server.started_at = time.time()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="health-http", daemon=True)
        self._thread.start()
        log.info("health/metrics server on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HttpSettings(SinkSettings):
    """`[sinks.http]`: where the health port listens."""

    host: str = setting("127.0.0.1", help="bind address (keep it local unless the network is trusted)")
    port: int = setting(9108, help="the health port", ge=1, le=65535, problem="{input!r} is not a port",
                        fix="use 1..65535")


@register_sink("http")
class HttpSink(Sink):
    """`[sinks.http]`: the health server as a sink. Records feed the latency histograms; state comes from
    `snapshot` (Pipeline.snapshot's dict, or a HealthSnapshot/its dict shape) on every request."""

    STAGES = ("capture", "queue", "preprocess", "inference")
    Settings = HttpSettings

    def __init__(self, *, host: str = "127.0.0.1", port: int = 9108,
                 snapshot: Callable[[], Mapping[str, Any] | HealthSnapshot] | None = None,
                 buckets_s: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_S, queue_size: int = 1024) -> None:
        super().__init__(queue_size=queue_size, retries=0)
        self.server = HealthServer(self._snapshot, host=host, port=port)
        self._source = snapshot
        self.latency = LatencyHistogram(buckets_s=buckets_s)
        self.stage_latency = {stage: LatencyHistogram(buckets_s=buckets_s) for stage in self.STAGES}

    @classmethod
    def from_config(cls, settings: Any, context: SinkContext) -> HttpSink:
        # the snapshot is looked up per request: the context is bound after the build
        return cls(snapshot=lambda: context.snapshot(), **dict(cls.settings_of(settings)))

    def _snapshot(self) -> HealthSnapshot:
        raw = self._source() if self._source is not None else HealthSnapshot()
        if isinstance(raw, HealthSnapshot) or not ({"model_fingerprint", "frames"} & set(raw)):
            snap = HealthSnapshot.coerce(raw)
        else:
            snap = HealthSnapshot.from_pipeline(raw)
        if snap.latency is None and not snap.latency_samples_s:
            snap.latency = self.latency.copy()
        if not snap.stage_latency:
            snap.stage_latency = {k: v.copy() for k, v in self.stage_latency.items() if v.count}
        return snap

    def open(self) -> None:
        self.server.start()

    def write(self, record: FrameRecord) -> None:
        timings = record.timings_ms
        if "total" in timings:
            self.latency.observe(timings["total"] / 1000.0)
        for stage, hist in self.stage_latency.items():
            if stage in timings:
                hist.observe(timings[stage] / 1000.0)

    def close(self) -> None:
        self.server.stop()
