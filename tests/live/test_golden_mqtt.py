"""The on-demand golden self-test over MQTT (issue 10 item 2): a real Mosquitto broker, a real station (tiny
onnxruntime bundle, the real MQTT sink): `<prefix>/<station>/golden/run` runs the set on the running engine
and answers on `.../golden/result`; a failing run blocks the station."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("paho.mqtt")
from conftest_services import Broker, mosquitto_fixture, wait_until  # noqa: F401
from test_golden import parts, write_config
from test_mqtt import Subscriber

from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.sinks.mqtt import MqttSink
from inspector.live.station import build_station

pytestmark = pytest.mark.timeout(60)


def test_golden_run_over_mqtt_answers_and_a_failure_blocks(
    tmp_path: Path, tiny_bundle_path: Path, mosquitto: Broker
) -> None:
    path = write_config(tmp_path, tiny_bundle_path)
    mqtt = (
        f'[sinks.mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
        f'username = "{mosquitto.username}"\npassword = "{mosquitto.password}"\n'
    )
    path.write_text(path.read_text() + mqtt)
    config = load_config(path)
    station = build_station(config)
    good, bad = parts(tmp_path / "src")
    golden = GoldenSet(config.data_dir / "golden")
    golden.add(good, "OK", station.engine)
    golden.add(bad, "NG", station.engine)
    answers = "inspector/gold/golden/result"
    sub = Subscriber(mosquitto, answers)
    station.start()
    try:
        assert wait_until(lambda: station.snapshot().ready, 10), station.snapshot().not_ready
        sink = next(s for s in station.sinks if isinstance(s, MqttSink))
        # ready judges parts; the sink's own session (and its golden/run subscription) may still be coming up
        assert sink.wait_connected(10), sink.health()
        assert wait_until(lambda: "inspector/gold/golden/run (QoS 1)" in mosquitto.log_text(), 10)  # SUBSCRIBE seen
        sub.client.publish("inspector/gold/golden/run", b"", qos=1)
        assert wait_until(lambda: len(sub.payloads(answers)) == 1, 10)
        first = sub.payloads(answers)[0]
        assert first["passed"] is True and first["trigger"] == "mqtt" and first["samples"] == 2
        assert first["model"] == station.engine.fingerprint and first["failures"] == []

        shutil.copyfile(bad, config.data_dir / "golden" / "good.png")  # the "good" sample now shows a defect
        sub.client.publish("inspector/gold/golden/run", b"{}", qos=1)
        assert wait_until(lambda: len(sub.payloads(answers)) == 2, 10)
        second = sub.payloads(answers)[1]
        assert second["passed"] is False and second["failures"] == ["good.png expected OK got NG"]
        assert second["reason"] == "golden self-test failed: good.png expected OK got NG"
        assert station.snapshot().not_ready == (second["reason"],)  # blocked like any failed run
    finally:
        station.stop(5.0)
        sub.close()
    runs = [json.loads(line) for line in (config.data_dir / "golden" / "runs.jsonl").read_text().splitlines()]
    assert [(r["trigger"], r["passed"]) for r in runs] == [("start", True), ("mqtt", True), ("mqtt", False)]
