"""MQTT sink against a real Mosquitto broker on 127.0.0.1: results, status, last will, triggers, secrets."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("paho.mqtt")
import paho.mqtt.client as mqtt
from conftest_services import Broker, make_mosquitto, mosquitto_fixture, wait_until  # noqa: F401

from inspector.live.record import FrameRecord
from inspector.live.sinks.base import SINKS, SinkContext
from inspector.live.sinks.mqtt import MqttSink
from inspector.live.snapshot import PipelineSnapshot
from inspector.result import InspectionResult, verdict_for

pytestmark = pytest.mark.timeout(30)


def record(camera: str, frame_id: int, score: float, station: str = "st") -> FrameRecord:
    result = InspectionResult(score=score, threshold=0.5, verdict=verdict_for(score, 0.5), model_fingerprint="abc123")
    return FrameRecord(
        station=station,
        camera=camera,
        frame_id=frame_id,
        captured_at=1700000000.0 + frame_id,
        result=result,
        timings_ms={"inference": 4.2, "total": 7.5},
    )


class Subscriber:
    """A plain paho client that collects every message under `topic_filter`."""

    def __init__(self, broker: Broker, topic_filter: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(broker.username, broker.password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscriber could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> list[dict]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_sink(broker: Broker, station: str, **kwargs) -> MqttSink:
    sink = MqttSink(
        station=station,
        host=broker.host,
        port=broker.port,
        username=broker.username,
        password=broker.password,
        **kwargs,
    )
    sink.start()
    assert sink.wait_connected(5), "sink did not connect"
    return sink


def test_registered_as_mqtt() -> None:
    assert SINKS["mqtt"] is MqttSink


def test_results_arrive_as_json_qos1_with_retained_status(mosquitto: Broker) -> None:
    sub = Subscriber(mosquitto, "inspector/line1/#")
    sink = make_sink(mosquitto, "line1")
    try:
        records = [record("cam0", 1, 0.1, "line1"), record("cam1", 2, 0.9, "line1"), record("cam0", 3, 0.2, "line1")]
        for r in records:
            sink.submit(r)
        assert wait_until(
            lambda: len(sub.on("inspector/line1/cam0/result")) == 2 and len(sub.on("inspector/line1/cam1/result")) == 1
        )
        cam0 = sub.on("inspector/line1/cam0/result")
        assert [json.loads(m.payload) for m in cam0] == [records[0].summary(), records[2].summary()]
        assert all(m.qos == 1 for m in cam0)
        assert sub.payloads("inspector/line1/cam1/result")[0]["verdict"] == "NG"

        late = Subscriber(mosquitto, "inspector/line1/status")  # joins after: gets the retained status
        try:
            assert wait_until(lambda: late.on("inspector/line1/status"))
            status = late.on("inspector/line1/status")[0]
            assert status.retain and json.loads(status.payload)["status"] == "online"
        finally:
            late.close()
        sink.stop()  # a clean stop says "offline" itself (retained), no will needed
        assert sink.stats.written == 3 and sink.stats.failures == 0
        assert wait_until(lambda: sub.payloads("inspector/line1/status")[-1]["status"] == "offline", 3)
    finally:
        sink.stop()
        sub.close()
    assert json.loads(_retained(mosquitto, "inspector/line1/status"))["status"] == "offline"


def _retained(broker: Broker, topic: str) -> bytes:
    sub = Subscriber(broker, topic)
    try:
        assert wait_until(lambda: sub.on(topic)), f"no retained message on {topic}"
        return sub.on(topic)[-1].payload
    finally:
        sub.close()


STATION_SCRIPT = textwrap.dedent("""
    import logging, os, sys, time
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from inspector.live.sinks.mqtt import MqttSink
    sink = MqttSink(url=os.environ["MQTT_URL"], station="dying", keepalive=5)
    sink.start()
    if not sink.wait_connected(10):
        sys.exit(3)
    print("READY", flush=True)
    time.sleep(60)
""")


def test_last_will_offline_when_the_station_dies_uncleanly(mosquitto: Broker, tmp_path: Path) -> None:
    sub = Subscriber(mosquitto, "inspector/dying/status")
    env = dict(os.environ, MQTT_URL=f"mqtt://{mosquitto.username}:{mosquitto.password}@127.0.0.1:{mosquitto.port}")
    stderr_path = tmp_path / "station.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", STATION_SCRIPT], env=env, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"READY", stderr_path.read_text()
        assert wait_until(lambda: any(p["status"] == "online" for p in sub.payloads("inspector/dying/status")))
        proc.send_signal(signal.SIGKILL)  # no DISCONNECT packet: only the broker's last will can tell
        proc.wait(timeout=5)
        assert wait_until(lambda: sub.payloads("inspector/dying/status")[-1]["status"] == "offline", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        sub.close()
    assert json.loads(_retained(mosquitto, "inspector/dying/status"))["status"] == "offline"  # retained
    log_text = stderr_path.read_text()
    assert "CONNACK" in log_text  # the station did log its MQTT traffic (at DEBUG) ...
    assert mosquitto.password not in log_text  # ... but never the password


def test_trigger_message_calls_on_trigger(mosquitto: Broker) -> None:
    calls: list[str] = []
    got = threading.Event()

    def on_trigger(camera: str) -> None:
        calls.append(camera)
        got.set()

    sink = make_sink(mosquitto, "trig", cameras=["cam0", "cam1"], on_trigger=on_trigger)
    pub = Subscriber(mosquitto, "inspector/trig/status")
    try:
        pub.client.publish("inspector/trig/ghost/trigger", b"1", qos=1).wait_for_publish(5)  # unknown: ignored
        pub.client.publish("inspector/trig/cam1/trigger", b"1", qos=1).wait_for_publish(5)
        assert got.wait(5)
        time.sleep(0.1)
        assert calls == ["cam1"]
    finally:
        pub.close()
        sink.stop()


def test_credentials_never_logged(mosquitto: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"mqtt://{mosquitto.username}:{mosquitto.password}@127.0.0.1:{mosquitto.port}"
    sink = MqttSink(url=url, station="secret")
    assert mosquitto.password not in sink.describe()
    sink.start()
    try:
        assert sink.wait_connected(5)
        sink.submit(record("cam0", 1, 0.3, "secret"))
        assert wait_until(lambda: sink.stats.written == 1)
    finally:
        sink.stop()
    bad = MqttSink(
        url=f"mqtt://{mosquitto.username}:wrong-{mosquitto.password}@127.0.0.1:{mosquitto.port}",
        station="secret2",
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    bad.start()
    try:
        assert not bad.wait_connected(1.5)  # refused: not authorised
        # the broker's refusal is logged (as a refused CONNACK or a disconnect, depending on timing)
        wait_until(lambda: "refused" in caplog.text.lower() or "disconnect" in caplog.text.lower(), 10)
    finally:
        bad.stop(timeout=2)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refused" in text.lower() or "disconnect" in text.lower()
    assert mosquitto.password not in text
    assert "127.0.0.1" in text  # the broker address is logged, its credentials are not


def test_reconnects_after_a_broker_restart(tmp_path: Path) -> None:
    process, broker = make_mosquitto(tmp_path)
    process.start()
    sub = None
    sink = make_sink(broker, "again", reconnect_min_s=1, reconnect_max_s=2, publish_timeout=10)
    try:
        process.stop()
        assert wait_until(lambda: not sink.connected, 5)
        sink.submit(record("cam0", 7, 0.2, "again"))  # queued while the broker is away
        process.start()
        sub = Subscriber(broker, "inspector/again/#")
        assert sink.wait_connected(10)
        assert wait_until(lambda: sub.on("inspector/again/cam0/result"), 10)
        assert sub.payloads("inspector/again/cam0/result")[0]["frame_id"] == 7
    finally:
        sink.stop(timeout=3)
        if sub is not None:
            sub.close()
        process.stop()


class TriggerLog:
    """A pipeline as the sinks' context sees it: two cameras, triggers written down."""

    def __init__(self, triggered: list[str | None]) -> None:
        self.triggered = triggered
        self.cameras = {"cam0": None, "cam1": None}

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot()

    def ready(self) -> bool:
        return True

    def trigger(self, camera: str | None = None) -> list[str]:
        self.triggered.append(camera)
        return [camera] if camera else []


def test_from_station_config_uses_the_daemon_context(mosquitto: Broker) -> None:
    triggered: list[str | None] = []
    context = SinkContext(station="cfg")
    settings = {
        "host": mosquitto.host,
        "port": mosquitto.port,
        "topic_prefix": "plant",
        "qos": 1,
        "client_id": "",
        "username": mosquitto.username,
        "password": mosquitto.password,
    }
    sink = SINKS["mqtt"].from_config(settings, context)
    context.bind(TriggerLog(triggered))  # the station builder binds the pipeline after building the sinks
    sub = Subscriber(mosquitto, "plant/cfg/#")
    sink.start()
    try:
        assert sink.wait_connected(5) and sink.cameras == {"cam0", "cam1"}
        sink.submit(record("cam1", 5, 0.7, "cfg"))
        assert wait_until(lambda: sub.on("plant/cfg/cam1/result"))
        sub.client.publish("plant/cfg/cam0/trigger", b"", qos=1).wait_for_publish(5)
        assert wait_until(lambda: triggered == ["cam0"])
    finally:
        sink.stop()
        sub.close()
