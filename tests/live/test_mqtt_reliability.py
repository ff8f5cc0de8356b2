"""Issue 11 items 4, 21: a real Mosquitto broker. No result lost uncounted in an outage; credentials from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("paho.mqtt")

from conftest_services import Broker, make_mosquitto, mosquitto_fixture, wait_until  # noqa: F401
from test_mqtt import record

from inspector.live.config import load_config
from inspector.live.sinks.base import SINKS, SinkContext
from inspector.live.sinks.mqtt import MqttSink

pytestmark = pytest.mark.timeout(60)


def test_an_outage_longer_than_the_retries_loses_nothing(tmp_path: Path) -> None:
    process, broker = make_mosquitto(tmp_path)
    sink = MqttSink(
        station="outage",
        host=broker.host,
        port=broker.port,
        username=broker.username,
        password=broker.password,
        publish_timeout=0.2,
        retries=1,
        retry_delay=0.05,
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    sink.start()  # the broker is not there yet
    try:
        for i in range(1, 11):
            sink.submit(record("cam0", i, 0.2, "outage"))
        assert wait_until(lambda: sink.stats.failures >= 12, 20)  # far more attempts than the retries allow
        assert sink.health().startswith("unavailable")
        process.start()
        assert wait_until(lambda: sink.stats.written == 10, 20), vars(sink.stats)
        published = [
            line
            for line in broker.log_text().splitlines()
            if "Received PUBLISH from inspector-outage" in line and "inspector/outage/cam0/result" in line
        ]
        assert len(published) >= 10  # the broker itself took every result (at-least-once)
        assert sink.stats.lost == 0 and sink.health() == ""
    finally:
        assert sink.stop(timeout=3)
        process.stop()


def test_records_still_queued_at_stop_are_counted(tmp_path: Path) -> None:
    _, broker = make_mosquitto(tmp_path)  # never started
    sink = MqttSink(station="gone", host=broker.host, port=broker.port, publish_timeout=0.2, retry_delay=0.05)
    sink.start()
    for i in range(1, 6):
        sink.submit(record("cam0", i, 0.2, "gone"))
    assert sink.stop(timeout=1.0) is False
    stats = sink.stats
    assert stats.lost_at_stop == 5 and stats.submitted == stats.written + stats.dropped + stats.lost + 5


def test_reconnect_backoff_is_capped_at_five_seconds() -> None:
    assert MqttSink(station="x")._reconnect == (1, 5)


def test_broker_credentials_come_from_the_station_config(
    tmp_path: Path, mosquitto: Broker, tiny_bundle_path: Path
) -> None:
    (tmp_path / "mqtt.pass").write_text(mosquitto.password + "\n")
    (tmp_path / "station.toml").write_text(f'''schema_version = 1
station = "creds"
[model]
path = "{tiny_bundle_path}"
[[cameras]]
id = "cam0"
trigger = "mqtt"
[cameras.source]
kind = "synthetic"
[sinks.mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
username = "{mosquitto.username}"
password_file = "mqtt.pass"
''')
    config = load_config(tmp_path / "station.toml")
    assert config.sinks["mqtt"].password_file == str(tmp_path / "mqtt.pass")
    sink = SINKS["mqtt"].from_config(config.sinks["mqtt"], SinkContext(station="creds"))
    sink.start()
    try:
        assert sink.wait_connected(10), "the authenticated broker refused the config's credentials"
    finally:
        sink.stop(3)
    tls = dict(config.sinks["mqtt"], tls=True, ca_file=str(tmp_path / "ca.pem"))
    secure = SINKS["mqtt"].from_config(tls, SinkContext(station="creds"))
    assert secure.tls and secure.ca_file == str(tmp_path / "ca.pem") and secure.describe().startswith("mqtts://")
