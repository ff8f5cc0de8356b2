"""The MQTT sink's retained `<prefix>/<station>/alarms` topic against a real Mosquitto broker: a real drift alarm
(inspector.live.drift) appears on it, and clears when the process is back."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("paho.mqtt")
from conftest_services import Broker, mosquitto_fixture, wait_until  # noqa: F401
from drift_helpers import THRESHOLD, DriftingPipeline, calibrated, feed
from test_mqtt import Subscriber

from inspector.live.sinks.base import SINKS, SinkContext

pytestmark = pytest.mark.timeout(30)


def alarms_on(sub: Subscriber, topic: str) -> list[list[str]]:
    return [json.loads(m.payload)["alarms"] for m in sub.on(topic)]


def test_a_drift_alarm_appears_on_the_retained_alarms_topic_and_clears(mosquitto: Broker) -> None:
    monitor = calibrated()
    feed(monitor, 0.0, 300, seed=2)
    assert monitor.alarms() == []
    context = SinkContext(station="drifty")
    settings = {"host": mosquitto.host, "port": mosquitto.port, "username": mosquitto.username}
    settings["password"] = mosquitto.password
    sink = SINKS["mqtt"].from_config(settings, context)
    sink.alarms_poll_s = 0.05  # the watcher's interval (1 s in a station)
    context.bind(DriftingPipeline(monitor))
    topic = "inspector/drifty/alarms"
    sub = Subscriber(mosquitto, topic)
    sink.start()
    try:
        assert wait_until(lambda: alarms_on(sub, topic) == [[]]), "the alarms topic is published at open"
        feed(monitor, 2.0, 200, seed=3)  # the camera's scores shift by +2 sd: the CUSUM alarms
        assert "drift_cam0_score_up" in monitor.alarms()
        assert wait_until(lambda: len(alarms_on(sub, topic)) == 2)
        assert "drift_cam0_score_up" in alarms_on(sub, topic)[-1]
        retained = [m for m in sub.on(topic) if m.retain]
        late = Subscriber(mosquitto, topic)  # a consumer that connects later gets the alarms at once
        try:
            assert wait_until(lambda: bool(late.on(topic)))
            message = late.on(topic)[0]
            assert message.retain and "drift_cam0_score_up" in json.loads(message.payload)["alarms"]
            assert json.loads(message.payload)["station"] == "drifty"
        finally:
            late.close()
        assert not retained  # a live subscriber sees the publish itself, not the retained copy
        seen = len(alarms_on(sub, topic))
        monitor.rebase({"deployed": {"good_scores": [1.0, 2.0], "expected_frr": 0.01}}, THRESHOLD, "model-b")
        assert wait_until(lambda: alarms_on(sub, topic)[-1:] == [[]]), "a new model starts the charts over"
        assert len(alarms_on(sub, topic)) == seen + 1  # published once per change, not every poll
    finally:
        sink.stop()
        sub.close()


def test_no_pipeline_bound_yet_publishes_nothing_until_one_is(mosquitto: Broker) -> None:
    context = SinkContext(station="unbound")
    settings = {"host": mosquitto.host, "port": mosquitto.port, "username": mosquitto.username}
    settings["password"] = mosquitto.password
    sink = SINKS["mqtt"].from_config(settings, context)
    sink.alarms_poll_s = 0.05
    topic = "inspector/unbound/alarms"
    sub = Subscriber(mosquitto, topic)
    sink.start()
    try:
        assert sink.wait_connected(5)
        assert not wait_until(lambda: bool(sub.on(topic)), timeout=0.3)  # unknown is not "no alarms"
        monitor = calibrated()
        context.bind(DriftingPipeline(monitor))
        assert wait_until(lambda: alarms_on(sub, topic) == [[]])
    finally:
        sink.stop()
        sub.close()
