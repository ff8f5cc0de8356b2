"""Health and metrics over HTTP (127.0.0.1 by default): /metrics (Prometheus text format), /healthz, /readyz;
with a control (the station's recipe changeover) also GET /recipes, POST /recipe and POST /lot, which
`inspector recipe` and `inspector lot` use (docs/plc.md#recipes), and with `[shadow]` GET /shadow, POST
/shadow/promote and /shadow/rollback (`inspector shadow`, docs/verdicts.md#shadow-mode).

The server owns no state: each request asks a provider for the pipeline's `PipelineSnapshot` (the HTTP sink's
provider is its `SinkContext`, so always the running pipeline). /metrics is prometheus_client's exposition of
a per-server registry: `SnapshotCollector` turns the snapshot into gauges and counters, and the HTTP sink adds
its latency histograms, observed per record.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from inspector.live.record import FrameRecord
from inspector.live.settings import setting
from inspector.live.sinks.base import Sink, SinkContext, SinkSettings, register_sink
from inspector.live.snapshot import PipelineSnapshot, ShadowSnapshot, SinkSnapshot
from inspector.live.sources.base import redact_url
from inspector.verdict import Reason

log = logging.getLogger(__name__)

DEFAULT_LATENCY_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MAX_HTTP_THREADS = 8  # handler threads; more connections wait in line (idle ones time out after 5 s)
# per sink (a record lost anywhere shows here): SinkSnapshot fields, then the kind's own counters
SINK_COUNTERS = ("lost", "lost_at_stop", "images_shed")
SINK_GAUGES = ("queued", "queued_image_bytes")
KIND_COUNTERS = ("rows_lost", "disk_full_events", "image_failures")  # sqlite's
KIND_GAUGES = ("rows_pending",)

Provider = Callable[[], PipelineSnapshot]
Control = Callable[[], Any]  # the station's inspector.live.recipes.Changeover (None: no control endpoints)
MAX_BODY = 4096  # bytes of a POST body


def readiness(snap: PipelineSnapshot) -> tuple[bool, list[str]]:
    """/readyz: the pipeline's verdict and its reasons (URLs redacted); never ready without a model or cameras."""
    reasons = [redact_url(reason) for reason in snap.not_ready]
    if not snap.model_loaded and "model not loaded" not in reasons:
        reasons.insert(0, "model not loaded")
    if not snap.cameras:
        reasons.append("no cameras")
    if not snap.ready and not reasons:
        reasons.append("pipeline not ready")
    return snap.ready and not reasons, reasons


def _label(value: object) -> str:
    return redact_url(str(value))  # a camera id may be a URL with credentials


class SnapshotCollector:
    """A prometheus_client collector: every gauge and counter of /metrics, from one snapshot per scrape."""

    def __init__(self, provider: Provider, started_at: Callable[[], float | None] = lambda: None) -> None:
        self._provider = provider
        self._started_at = started_at

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration (the pipeline may not be bound yet)

    def collect(self) -> Iterator[Metric]:
        snap = self._provider()
        ready, _ = readiness(snap)
        yield GaugeMetricFamily("inspector_ready", "1 when the model is loaded and every camera is up", value=ready)
        yield GaugeMetricFamily("inspector_model_loaded", "1 when the model bundle is loaded", value=snap.model_loaded)
        yield InfoMetricFamily(
            "inspector_recipe",
            "The recipe and lot running (docs/plc.md#recipes)",
            value={"recipe": snap.recipe, "lot": snap.lot, "model": snap.model_fingerprint[:16]},
        )
        started = self._started_at()
        if started is not None:
            yield GaugeMetricFamily("inspector_start_time_seconds", "Unix time the daemon started", value=started)
        cams = sorted(snap.cameras.items())
        families = (
            (GaugeMetricFamily, "inspector_camera_up", "1 while the camera delivers frames", lambda c: c.up),
            (CounterMetricFamily, "inspector_frames_total", "Frames inspected", lambda c: c.inspected),
            (
                CounterMetricFamily,
                "inspector_dropped_frames_total",
                "Frames dropped to keep latency bounded",
                lambda c: c.dropped,
            ),
            (
                GaugeMetricFamily,
                "inspector_last_frame_age_seconds",
                "Seconds since the camera's last good frame (+Inf: none)",
                lambda c: math.inf if c.last_frame_age_s is None else c.last_frame_age_s,
            ),
        )
        for kind, name, help_text, value in families:
            family = kind(name, help_text, labels=["camera"])
            for cam, camera in cams:
                family.add_metric([_label(cam)], value(camera))
            yield family
        yield CounterMetricFamily(
            "inspector_errors_total", "Inspection errors (bad frame, inference failure)", value=snap.errors
        )
        verdicts = CounterMetricFamily("inspector_verdicts_total", "Parts inspected by verdict", labels=["verdict"])
        verdicts.add_metric(["NG"], snap.verdicts.ng)
        verdicts.add_metric(["OK"], snap.verdicts.ok)
        verdicts.add_metric(["UNSURE"], snap.verdicts.unsure)
        yield verdicts
        unsure = CounterMetricFamily(
            "inspector_unsure_total",
            "Parts that could not be judged (UNSURE), by reason (docs/verdicts.md)",
            labels=["reason"],
        )
        for reason in Reason:  # every reason, zero or not, so a dashboard can rate() each from the start
            unsure.add_metric([reason.value], snap.verdicts.unsure_by_reason.get(reason.value, 0))
        yield unsure
        yield from self._sinks(sorted(snap.sinks.items()))
        if snap.shadow is not None:
            yield from self._shadow(snap.shadow)
        alarms = GaugeMetricFamily(
            "inspector_alarm", "1 for each active alarm (degraded but running)", labels=["alarm"]
        )
        for alarm in snap.alarms:
            alarms.add_metric([_label(alarm)], 1)
        yield alarms

    @staticmethod
    def _shadow(shadow: ShadowSnapshot) -> Iterator[Metric]:
        """Shadow mode: the candidate's frames by outcome, its disagreements by production -> candidate verdict."""
        frames = CounterMetricFamily(
            "inspector_shadow_frames_total",
            "Frames offered to the shadow candidate, by outcome (agree, disagree, skipped while busy, error)",
            labels=["outcome"],
        )
        for outcome, value in (
            ("agree", shadow.agree),
            ("disagree", shadow.disagreements),
            ("skipped", shadow.skipped),
            ("error", shadow.errors),
        ):
            frames.add_metric([outcome], value)
        yield frames
        pairs = CounterMetricFamily(
            "inspector_shadow_disagreements_total",
            "Frames the candidate judged otherwise than production",
            labels=["production", "candidate"],
        )
        for pair, value in sorted(shadow.disagree.items()):
            production, candidate = pair.split("->")
            pairs.add_metric([production, candidate], value)
        yield pairs
        yield GaugeMetricFamily(
            "inspector_shadow_promoted", "1 while the shadow candidate runs in production", value=shadow.promoted
        )

    @staticmethod
    def _sinks(sinks: list[tuple[str, SinkSnapshot]]) -> Iterator[Metric]:
        for name, help_text, value in (
            ("failures", "Failed sink write attempts (retried)", lambda s: s.failures),
            ("dropped", "Records a sink dropped because its queue was full", lambda s: s.dropped),
            *((n, f"Sink {n.replace('_', ' ')}", lambda s, n=n: getattr(s, n)) for n in SINK_COUNTERS),
            *((n, f"Sink {n.replace('_', ' ')}", lambda s, n=n: s.counters.get(n)) for n in KIND_COUNTERS),
        ):
            family = CounterMetricFamily(f"inspector_sink_{name}_total", help_text, labels=["sink"])
            for kind, sink in sinks:
                if (number := value(sink)) is not None:
                    family.add_metric([_label(kind)], number)
            yield family
        for name, value in (
            *((n, lambda s, n=n: getattr(s, n)) for n in SINK_GAUGES),
            *((n, lambda s, n=n: s.counters.get(n)) for n in KIND_GAUGES),
        ):
            gauge = GaugeMetricFamily(f"inspector_sink_{name}", f"Sink {name.replace('_', ' ')}", labels=["sink"])
            for kind, sink in sinks:
                if (number := value(sink)) is not None:
                    gauge.add_metric([_label(kind)], number)
            yield gauge


def render_metrics(snap: PipelineSnapshot) -> str:
    """One snapshot in Prometheus text format 0.0.4 (no histograms: those live in the HTTP sink)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snap))
    return generate_latest(registry).decode()


# server ------------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/healthz":
            self._send(200, "application/json", json.dumps({"status": "ok"}).encode())
        elif path == "/readyz":
            snap = self.server.snapshot()
            ready, reasons = readiness(snap) if snap is not None else (False, ["health snapshot unavailable"])
            body = json.dumps({"ready": ready, "reasons": reasons}).encode()
            self._send(200 if ready else 503, "application/json", body)
        elif path == "/metrics":
            text = self.server.metrics()
            if text is None:
                self._send(500, "text/plain; charset=utf-8", b"health snapshot unavailable\n")
            else:
                self._send(200, PROMETHEUS_CONTENT_TYPE, text)
        elif path == "/recipes" and (changeover := self.server.changeover()) is not None:
            self._send(200, "application/json", json.dumps(changeover.describe()).encode())
        elif path == "/shadow" and (shadow := self.server.shadow()) is not None:
            self._send(200, "application/json", json.dumps(shadow.status()).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /readyz\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        """POST /recipe {"recipe", "who", "why"} or /lot {"lot", "who", "why"}: 200 with the answer, or 409
        (refused: the answer says why; the running recipe keeps going), 400 (bad body), 404."""
        path = self.path.split("?", 1)[0].rstrip("/")
        changeover = self.server.changeover()
        length = int(self.headers.get("Content-Length") or 0)
        if path in ("/shadow/promote", "/shadow/rollback") and self.server.shadow() is not None:
            self._shadow_action(path.rsplit("/", 1)[1], length)
            return
        if changeover is None or path not in ("/recipe", "/lot"):
            self.rfile.read(min(length, MAX_BODY))
            self._send(
                404,
                "text/plain; charset=utf-8",
                b"not found: POST /recipe or /lot (with [sinks.http] control = true)\n",
            )
            return
        try:
            if length > MAX_BODY:
                raise ValueError(f"body over {MAX_BODY} bytes")
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            kind = path.lstrip("/")
            value, who, why = str(body.get(kind, "")), str(body.get("who", "") or "unknown"), str(body.get("why", ""))
        except ValueError as exc:
            self._send(400, "application/json", json.dumps({"error": f"bad request body: {exc}"}).encode())
            return
        who = f"http:{who}"[:80]
        outcome = (
            changeover.select(value, who=who, why=why)
            if kind == "recipe"
            else changeover.set_lot(value, who=who, why=why)
        )
        self._send(200 if outcome.ok else 409, "application/json", json.dumps(outcome.summary()).encode())

    def _shadow_action(self, action: str, length: int) -> None:
        """POST /shadow/promote or /shadow/rollback {"who", "why"}: 200 done, 409 refused (the answer says why)."""
        try:
            body = json.loads(self.rfile.read(min(length, MAX_BODY)) or b"{}") if length <= MAX_BODY else None
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object of at most 4096 bytes")
        except ValueError as exc:
            self._send(400, "application/json", json.dumps({"error": f"bad request body: {exc}"}).encode())
            return
        who, why = f"http:{body.get('who') or 'unknown'}"[:80], str(body.get("why", ""))
        shadow = self.server.shadow()
        outcome = shadow.promote(who=who, why=why) if action == "promote" else shadow.rollback(who=who, why=why)
        self._send(200 if outcome.ok else 409, "application/json", json.dumps(outcome.summary()).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.address_string(), redact_url(format % args))


class _Server(ThreadingHTTPServer):
    """At most MAX_HTTP_THREADS handler threads, started once; further connections wait in a queue."""

    daemon_threads = True
    provider: Provider
    registry: CollectorRegistry
    control: Control | None = None
    shadow_control: Control | None = None  # the station's inspector.live.shadow.ShadowControl

    def changeover(self) -> Any:
        return self.control() if self.control is not None else None

    def shadow(self) -> Any:
        return self.shadow_control() if self.shadow_control is not None else None

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._requests: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self._workers = [
            threading.Thread(target=self._work, name=f"health-http-{i}", daemon=True) for i in range(MAX_HTTP_THREADS)
        ]
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

    def snapshot(self) -> PipelineSnapshot | None:
        try:
            return self.provider()
        except Exception as exc:  # noqa: BLE001 (a broken provider is a 503, never a dead server)
            log.error("health provider failed: %s: %s", type(exc).__name__, redact_url(str(exc)))
            return None

    def metrics(self) -> bytes | None:
        try:
            return generate_latest(self.registry)
        except Exception as exc:  # noqa: BLE001 (a broken provider is a 500, never a dead server)
            log.error("health provider failed: %s: %s", type(exc).__name__, redact_url(str(exc)))
            return None


class HealthServer:
    """/metrics, /healthz, /readyz on host:port (port 0: any free port) in a background thread. `registry`
    (default: a new one, never prometheus_client's process-wide one) gets the snapshot collector; add more
    metrics to it (the HTTP sink's histograms)."""

    def __init__(
        self,
        provider: Provider,
        *,
        host: str = "127.0.0.1",
        port: int = 9108,
        registry: CollectorRegistry | None = None,
        control: Control | None = None,
        shadow: Control | None = None,
    ) -> None:
        self.provider = provider
        self.control = control
        self.shadow = shadow
        self.host = host
        self.requested_port = int(port)
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self.started_at: float | None = None
        self.registry.register(SnapshotCollector(provider, lambda: self.started_at))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.requested_port

    @property
    def running(self) -> bool:
        """Listening (between start() and stop())."""
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        server = _Server((self.host, self.requested_port), _Handler)
        server.provider, server.registry, server.control = self.provider, self.registry, self.control
        server.shadow_control = self.shadow
        self.started_at = time.time()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="health-http", daemon=True
        )
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
    port: int = setting(
        9108, help="the health port", ge=1, le=65535, problem="{input!r} is not a port", fix="use 1..65535"
    )
    control: bool = setting(
        True,
        help="also serve GET /recipes, POST /recipe and POST /lot (`inspector recipe`, "
        "`inspector lot`); anyone who reaches the port may switch among the "
        "configured, verified recipes: keep `host` local",
    )


@register_sink("http")
class HttpSink(Sink):
    """`[sinks.http]`: the health server as a sink. Records feed its latency histograms; everything else
    comes from `snapshot` (the station's SinkContext.snapshot: the running pipeline) on every request."""

    STAGES = ("capture", "queue", "preprocess", "inference")
    Settings = HttpSettings

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9108,
        snapshot: Provider | None = None,
        control: Control | None = None,
        buckets_s: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_S,
        queue_size: int = 1024,
        shadow: Control | None = None,
    ) -> None:
        super().__init__(queue_size=queue_size, retries=0)
        registry = CollectorRegistry(auto_describe=False)
        self.server = HealthServer(
            snapshot or PipelineSnapshot, host=host, port=port, registry=registry, control=control, shadow=shadow
        )
        self.latency = Histogram(
            "inspector_latency_seconds", "End-to-end latency, capture to verdict", buckets=buckets_s, registry=registry
        )
        self.stage_latency = Histogram(
            "inspector_stage_latency_seconds",
            "Latency per pipeline stage",
            ["stage"],
            buckets=buckets_s,
            registry=registry,
        )

    @classmethod
    def from_config(cls, settings: Any, context: SinkContext) -> HttpSink:
        # the context answers for the running pipeline
        options = dict(cls.settings_of(settings))
        enabled = options.pop("control")
        control = (lambda: context.recipes) if enabled else None
        shadow = (lambda: context.shadow) if enabled else None  # None until the station has [shadow]
        return cls(snapshot=context.snapshot, control=control, shadow=shadow, **options)

    def open(self) -> None:
        self.server.start()

    def write(self, record: FrameRecord) -> None:
        timings = record.timings_ms
        if "total" in timings:
            self.latency.observe(timings["total"] / 1000.0)
        for stage in self.STAGES:
            if stage in timings:
                self.stage_latency.labels(stage).observe(timings[stage] / 1000.0)

    def close(self) -> None:
        self.server.stop()
