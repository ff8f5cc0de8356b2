"""Health/metrics HTTP server: Prometheus text that parses, /readyz 503 -> 200, /healthz, loopback only."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import socket
from collections.abc import Iterator

import pytest

from conftest_services import wait_until
from inspector.live.http import (
    CameraHealth,
    HealthServer,
    HealthSnapshot,
    HttpSink,
    LatencyHistogram,
    render_metrics,
)
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import SINKS, SinkContext
from inspector.result import InspectionResult, verdict_for

pytestmark = pytest.mark.timeout(30)

SECRET = "hunter2-top-secret"

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse_prometheus(text: str) -> dict[tuple[str, frozenset], float]:
    """A strict reader of text format 0.0.4: every sample belongs to a TYPEd family; returns the samples."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, raw_labels = match["name"], match["labels"] or ""
        labels = _LABEL.findall(raw_labels)
        assert "".join(f'{k}="{v}",' for k, v in labels).rstrip(",") == raw_labels, f"bad labels: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample {name} has no # TYPE"
        value = float(match["value"].replace("+Inf", "inf").replace("-Inf", "-inf"))
        key = (name, frozenset(labels))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = value
    for family, kind in types.items():  # histograms: cumulative buckets ending in +Inf == _count
        if kind != "histogram":
            continue
        groups: dict[frozenset, list[tuple[float, float]]] = {}
        for (name, labels), value in samples.items():
            if name == f"{family}_bucket":
                le = dict(labels)["le"]
                rest = frozenset((k, v) for k, v in labels if k != "le")
                groups.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), value))
        for rest, buckets in groups.items():
            buckets.sort()
            assert buckets[-1][0] == math.inf
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:], strict=False)), "buckets must be cumulative"
            assert samples[(f"{family}_count", rest)] == buckets[-1][1]
    return samples


def get(server: HealthServer, path: str, host: str = "127.0.0.1") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection(host, server.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read().decode()
    finally:
        conn.close()


class State:
    """A provider whose snapshot the test changes."""

    def __init__(self) -> None:
        self.snap = HealthSnapshot(station="st")
        self.fail: Exception | None = None

    def __call__(self) -> HealthSnapshot:
        if self.fail is not None:
            raise self.fail
        return self.snap


@pytest.fixture()
def served() -> Iterator[tuple[HealthServer, State]]:
    state = State()
    server = HealthServer(state, port=0)
    server.start()
    yield server, state
    server.stop()


def test_healthz_and_readyz_follow_model_and_cameras(served: tuple[HealthServer, State]) -> None:
    server, state = served
    assert get(server, "/healthz")[0] == 200
    status, ctype, body = get(server, "/readyz")
    assert status == 503 and ctype.startswith("application/json")
    assert set(json.loads(body)["reasons"]) == {"model not loaded", "no cameras"}
    state.snap.model_loaded = True
    state.snap.cameras = {"cam0": CameraHealth(up=True), "cam1": CameraHealth(up=False)}
    status, _, body = get(server, "/readyz")
    assert status == 503 and json.loads(body)["reasons"] == ["camera cam1 down"]
    state.snap.cameras["cam1"].up = True
    assert get(server, "/readyz")[0] == 200
    assert get(server, "/healthz")[0] == 200
    assert get(server, "/nope")[0] == 404


def test_metrics_parse_as_prometheus_text(served: tuple[HealthServer, State]) -> None:
    server, state = served
    latency = LatencyHistogram()
    for s in (0.004, 0.03, 0.03, 0.2, 7.0):
        latency.observe(s)
    state.snap = HealthSnapshot(
        station="st", model_loaded=True,
        cameras={"cam0": CameraHealth(True, 120, 3, 0.05), "cam1": CameraHealth(False, 7, 0, None)},
        verdicts={"OK": 120, "NG": 7}, latency=latency,
        stage_latency={"inference": LatencyHistogram.from_samples([0.01, 0.02])},
        sink_failures={"mqtt": 2, "sqlite": 0}, sink_dropped={"mqtt": 1}, alarms=["disk_full"])
    status, ctype, text = get(server, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    m = parse_prometheus(text)
    cam0, cam1 = frozenset({("camera", "cam0")}), frozenset({("camera", "cam1")})
    assert m[("inspector_frames_total", cam0)] == 120
    assert m[("inspector_dropped_frames_total", cam0)] == 3
    assert m[("inspector_camera_up", cam0)] == 1 and m[("inspector_camera_up", cam1)] == 0
    assert m[("inspector_last_frame_age_seconds", cam0)] == pytest.approx(0.05)
    assert m[("inspector_last_frame_age_seconds", cam1)] == math.inf
    assert m[("inspector_verdicts_total", frozenset({("verdict", "OK")}))] == 120
    assert m[("inspector_verdicts_total", frozenset({("verdict", "NG")}))] == 7
    assert m[("inspector_latency_seconds_count", frozenset())] == 5
    assert m[("inspector_latency_seconds_sum", frozenset())] == pytest.approx(7.264)
    assert m[("inspector_latency_seconds_bucket", frozenset({("le", "0.05")}))] == 3
    assert m[("inspector_latency_seconds_bucket", frozenset({("le", "+Inf")}))] == 5
    assert m[("inspector_stage_latency_seconds_count", frozenset({("stage", "inference")}))] == 2
    assert m[("inspector_sink_failures_total", frozenset({("sink", "mqtt")}))] == 2
    assert m[("inspector_sink_dropped_total", frozenset({("sink", "mqtt")}))] == 1
    assert m[("inspector_alarm", frozenset({("alarm", "disk_full")}))] == 1
    assert m[("inspector_ready", frozenset())] == 0  # cam1 is down
    assert m[("inspector_model_loaded", frozenset())] == 1


def test_plain_dict_provider_and_samples() -> None:
    snap = HealthSnapshot.coerce({
        "model_loaded": True, "cameras": {"cam0": {"up": True, "frames": 5, "dropped": 0, "last_frame_age_s": 0.1}},
        "verdicts": {"OK": 4, "NG": 1}, "latency_samples_s": [0.01, 0.3], "sink_failures": {"opcua": 1},
    })
    assert snap.readiness() == (True, [])
    m = parse_prometheus(render_metrics(snap))
    assert m[("inspector_latency_seconds_count", frozenset())] == 2
    with pytest.raises(KeyError, match="camras"):
        HealthSnapshot.coerce({"camras": {}})


def test_bound_to_loopback_only(served: tuple[HealthServer, State]) -> None:
    server, _ = served
    assert server.host == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    with pytest.raises(OSError):  # another loopback address: refused, so not listening on 0.0.0.0
        socket.create_connection(("127.0.0.2", server.port), timeout=2).close()


def test_no_credentials_in_output_or_logs(served: tuple[HealthServer, State],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, state = served
    cam = f"rtsp://admin:{SECRET}@10.0.0.5/stream1"  # a careless config using the URL as camera id
    state.snap = HealthSnapshot(model_loaded=True, cameras={cam: CameraHealth(up=False)})
    for path in ("/metrics", "/readyz", f"/metrics?x=rtsp://u:{SECRET}@h/"):
        status, _, body = get(server, path)
        assert status in (200, 503) and SECRET not in body
    assert "rtsp://***@10.0.0.5/stream1" in get(server, "/metrics")[2]
    state.fail = ConnectionError(f"cannot reach rtsp://admin:{SECRET}@10.0.0.5/stream1")
    assert get(server, "/metrics")[0] == 500
    assert get(server, "/readyz")[0] == 503
    assert get(server, "/healthz")[0] == 200  # the process still runs
    assert "health provider failed" in caplog.text and SECRET not in caplog.text


def test_histogram_observe_and_validation() -> None:
    hist = LatencyHistogram(buckets_s=(0.1, 1.0))
    for s in (0.05, 0.1, 0.5, 3.0):
        hist.observe(s)
    assert hist.cumulative() == [(0.1, 2), (1.0, 3), (math.inf, 4)]
    assert hist.copy().count == 4
    with pytest.raises(ValueError):
        LatencyHistogram(buckets_s=(1.0, 0.1))


def pipeline_snapshot(up: bool) -> dict:
    """The shape of Pipeline.snapshot() (what the daemon's SinkContext.snapshot returns)."""
    cam = {"state": "UP" if up else "DOWN", "connects": 1, "last_frame_age_s": 0.03 if up else None,
           "last_error": "", "up": up, "inspected": 42, "dropped": 2, "verdicts": {"OK": 40, "NG": 2}, "queued": 0}
    return {"station": "st", "ready": up, "model_fingerprint": "f" * 64, "frames": 42, "verdicts": {"OK": 40, "NG": 2},
            "dropped": 2, "errors": 1, "last_error": "", "last_frame_age_s": 0.03, "latency_ms": [12.0],
            "frame_age_s": [0.01], "inference_ms": [5.0], "cameras": {"cam0": cam},
            "sinks": {"mqtt": {"submitted": 3, "written": 1, "dropped": 1, "failures": 2, "last_error": ""},
                      "sqlite": {"failures": 0, "dropped": 0, "degraded": True, "alarm": True}}}


def test_http_sink_from_config_serves_the_pipeline() -> None:
    state = {"up": False}
    context = SinkContext(station="st")
    sink = SINKS["http"].from_config({"host": "127.0.0.1", "port": 0}, context)
    assert isinstance(sink, HttpSink)
    context.snapshot = lambda: pipeline_snapshot(state["up"])  # filled in after the sinks are built
    sink.start()
    try:
        assert wait_until(lambda: sink.server.port != 0)
        assert get(sink.server, "/readyz")[0] == 503
        state["up"] = True
        assert get(sink.server, "/readyz")[0] == 200
        result = InspectionResult(score=0.1, threshold=0.5, verdict=verdict_for(0.1, 0.5), model_fingerprint="f")
        for i in range(3):
            sink.submit(FrameRecord(station="st", camera="cam0", frame_id=i, captured_at=0.0, result=result,
                                    timings_ms={"capture": 2.0, "inference": 8.0, "total": 30.0}))
        assert wait_until(lambda: sink.stats.written == 3)
        m = parse_prometheus(get(sink.server, "/metrics")[2])
    finally:
        sink.stop()
    cam0 = frozenset({("camera", "cam0")})
    assert m[("inspector_frames_total", cam0)] == 42 and m[("inspector_dropped_frames_total", cam0)] == 2
    assert m[("inspector_camera_up", cam0)] == 1
    assert m[("inspector_latency_seconds_count", frozenset())] == 3
    assert m[("inspector_latency_seconds_bucket", frozenset({("le", "0.05")}))] == 3
    assert m[("inspector_stage_latency_seconds_count", frozenset({("stage", "inference")}))] == 3
    assert m[("inspector_sink_failures_total", frozenset({("sink", "mqtt")}))] == 2
    assert m[("inspector_errors_total", frozenset())] == 1
    assert m[("inspector_ready", frozenset())] == 1
    assert m[("inspector_alarm", frozenset({("alarm", "sqlite_degraded")}))] == 1  # disk full: degraded, still up
