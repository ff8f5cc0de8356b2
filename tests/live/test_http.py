"""Health/metrics HTTP server: Prometheus text that parses, /readyz 503 -> 200, /healthz, loopback only."""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
from collections.abc import Iterator

import prometheus_client
import pytest
from conftest_services import free_port, wait_until
from prometheus_client.parser import text_string_to_metric_families

from inspector.live.http import HealthServer, HttpSink
from inspector.live.record import FrameRecord
from inspector.live.sinks.base import SINKS, SinkContext
from inspector.live.snapshot import (
    CameraSnapshot,
    PipelineSnapshot,
    SinkSnapshot,
    Verdicts,
)
from inspector.result import InspectionResult, verdict_for

pytestmark = pytest.mark.timeout(30)

SECRET = "hunter2-top-secret"
Samples = dict[tuple[str, frozenset], float]


def parse_prometheus(text: str) -> Samples:
    """prometheus_client's own reader of the text format; every sample once, each in a TYPEd family."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type in {"counter", "gauge", "histogram"}, family
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = sample.value
    return samples


def camera(
    up: bool = True, inspected: int = 0, dropped: int = 0, ng: int = 0, age: float | None = None
) -> CameraSnapshot:
    return CameraSnapshot(
        state="UP" if up else "DOWN",
        up=up,
        frames=inspected + dropped,
        inspected=inspected,
        dropped=dropped,
        verdicts=Verdicts(inspected - ng, ng),
        last_frame_age_s=age,
    )


def snapshot(cameras: dict[str, CameraSnapshot], *, model: str = "f" * 64, **fields) -> PipelineSnapshot:
    """A consistent snapshot: totals from the cameras, ready when every camera is up."""
    reasons = tuple(f"camera {cam} down" for cam, c in cameras.items() if not c.up) + fields.pop("not_ready", ())
    return PipelineSnapshot(
        station="st",
        model_fingerprint=model,
        cameras=cameras,
        not_ready=reasons,
        ready=bool(cameras) and bool(model) and not reasons,
        frames=sum(c.inspected for c in cameras.values()),
        dropped=sum(c.dropped for c in cameras.values()),
        verdicts=Verdicts(sum(c.verdicts.ok for c in cameras.values()), sum(c.verdicts.ng for c in cameras.values())),
        **fields,
    )


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
        self.snap = PipelineSnapshot(station="st")
        self.fail: Exception | None = None

    def __call__(self) -> PipelineSnapshot:
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
    state.snap = snapshot({"cam0": camera(up=True), "cam1": camera(up=False)})
    status, _, body = get(server, "/readyz")
    assert status == 503 and json.loads(body)["reasons"] == ["camera cam1 down"]
    state.snap = snapshot({"cam0": camera(up=True), "cam1": camera(up=True)})
    assert get(server, "/readyz")[0] == 200
    state.snap = PipelineSnapshot(station="st", model_fingerprint="f", cameras={"cam0": camera()})
    assert json.loads(get(server, "/readyz")[2])["reasons"] == ["pipeline not ready"]  # never ready by default
    assert get(server, "/healthz")[0] == 200
    assert get(server, "/nope")[0] == 404


def test_metrics_parse_as_prometheus_text(served: tuple[HealthServer, State]) -> None:
    server, state = served
    sqlite = SinkSnapshot(kind="sqlite", degraded=True, counters={"rows_lost": 0, "disk_full_events": 2})
    state.snap = snapshot(
        {"cam0": camera(True, 120, 3, ng=5, age=0.05), "cam1": camera(False, 7, 0, ng=2)},
        errors=4,
        sinks={"mqtt": SinkSnapshot(kind="mqtt", failures=2, dropped=1, lost=3, queued=5), "sqlite": sqlite},
    )
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
    assert m[("inspector_errors_total", frozenset())] == 4
    mqtt, db = frozenset({("sink", "mqtt")}), frozenset({("sink", "sqlite")})
    assert m[("inspector_sink_failures_total", mqtt)] == 2
    assert m[("inspector_sink_dropped_total", mqtt)] == 1
    assert m[("inspector_sink_lost_total", mqtt)] == 3 and m[("inspector_sink_queued", mqtt)] == 5
    assert m[("inspector_sink_disk_full_events_total", db)] == 2 and m[("inspector_sink_rows_lost_total", db)] == 0
    assert ("inspector_sink_rows_lost_total", mqtt) not in m  # the kind's own counters only where it has them
    assert m[("inspector_alarm", frozenset({("alarm", "sqlite_degraded")}))] == 1
    assert m[("inspector_ready", frozenset())] == 0  # cam1 is down
    assert m[("inspector_model_loaded", frozenset())] == 1
    assert m[("inspector_start_time_seconds", frozenset())] == pytest.approx(server.started_at)


def test_bound_to_loopback_only(served: tuple[HealthServer, State]) -> None:
    server, _ = served
    assert server.host == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    with pytest.raises(OSError):  # another loopback address: refused, so not listening on 0.0.0.0
        socket.create_connection(("127.0.0.2", server.port), timeout=2).close()


def test_no_credentials_in_output_or_logs(served: tuple[HealthServer, State], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, state = served
    cam = f"rtsp://admin:{SECRET}@10.0.0.5/stream1"  # a careless config using the URL as camera id
    state.snap = snapshot({cam: camera(up=False)}, not_ready=(f"inspection failing: cannot read {cam}",))
    for path in ("/metrics", "/readyz", f"/metrics?x=rtsp://u:{SECRET}@h/"):
        status, _, body = get(server, path)
        assert status in (200, 503) and SECRET not in body
    assert "rtsp://***@10.0.0.5/stream1" in get(server, "/metrics")[2]
    state.fail = ConnectionError(f"cannot reach rtsp://admin:{SECRET}@10.0.0.5/stream1")
    assert get(server, "/metrics")[0] == 500
    assert get(server, "/readyz")[0] == 503
    assert get(server, "/healthz")[0] == 200  # the process still runs
    assert "health provider failed" in caplog.text and SECRET not in caplog.text


def record(timings: dict[str, float], frame_id: int = 1) -> FrameRecord:
    result = InspectionResult(score=0.1, threshold=0.5, verdict=verdict_for(0.1, 0.5), model_fingerprint="f")
    return FrameRecord(
        station="st", camera="cam0", frame_id=frame_id, captured_at=0.0, result=result, timings_ms=timings
    )


def test_latency_histograms_bucket_the_records() -> None:
    sink = HttpSink(port=0, buckets_s=(0.1, 1.0))
    for ms in (50.0, 100.0, 500.0, 3000.0):
        sink.write(record({"total": ms, "inference": ms / 2}))
    m = parse_prometheus(prometheus_client.generate_latest(sink.server.registry).decode())
    buckets = {
        dict(labels)["le"]: value for (name, labels), value in m.items() if name == "inspector_latency_seconds_bucket"
    }
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert m[("inspector_latency_seconds_count", frozenset())] == 4
    assert m[("inspector_latency_seconds_sum", frozenset())] == pytest.approx(3.65)
    assert m[("inspector_stage_latency_seconds_count", frozenset({("stage", "inference")}))] == 4
    assert ("inspector_stage_latency_seconds_count", frozenset({("stage", "capture")})) not in m  # never timed
    HttpSink(port=0)  # a registry per server: a second sink in one process clashes with nothing
    assert prometheus_client.REGISTRY.get_sample_value("inspector_latency_seconds_count") is None
    with pytest.raises(ValueError):
        HttpSink(port=0, buckets_s=(1.0, 0.1))


class BoundPipeline:
    """What a SinkContext is bound to: the typed snapshot, readiness, triggers, camera ids."""

    def __init__(self) -> None:
        self.up = False
        self.cameras = {"cam0": None}

    def snapshot(self) -> PipelineSnapshot:
        mqtt = SinkSnapshot(kind="mqtt", submitted=3, written=1, dropped=1, failures=2)
        sqlite = SinkSnapshot(kind="sqlite", degraded=True)
        return snapshot(
            {"cam0": camera(self.up, 42, 2, ng=2, age=0.03 if self.up else None)},
            errors=1,
            sinks={"mqtt": mqtt, "sqlite": sqlite},
        )

    def ready(self) -> bool:
        return self.up

    def trigger(self, camera: str | None = None) -> list[str]:
        return []


def test_http_sink_from_config_serves_the_pipeline() -> None:
    pipeline = BoundPipeline()
    context = SinkContext(station="st")
    sink = SINKS["http"].from_config({"host": "127.0.0.1", "port": free_port()}, context)
    assert isinstance(sink, HttpSink)
    sink.start()
    try:
        assert wait_until(lambda: sink.server.running)
        assert get(sink.server, "/readyz")[0] == 503 and get(sink.server, "/metrics")[0] == 500  # nothing bound
        context.bind(pipeline)  # the station builder binds the pipeline after building the sinks
        assert get(sink.server, "/readyz")[0] == 503
        pipeline.up = True
        assert get(sink.server, "/readyz")[0] == 200
        for i in range(3):
            sink.submit(record({"capture": 2.0, "inference": 8.0, "total": 30.0}, frame_id=i))
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
