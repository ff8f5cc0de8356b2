"""OPC UA sink: Alarms (String, comma-separated) and AlarmActive (Boolean) follow the snapshot's alarms within a
heartbeat, read by a real asyncua client; the alarm is a real DriftMonitor's."""

from __future__ import annotations

import pytest

pytest.importorskip("asyncua")
from asyncua import Client, ua
from conftest_services import free_port, wait_until
from drift_helpers import THRESHOLD, DriftingPipeline, calibrated, feed
from test_opcua import client_session, read

from inspector.live.sinks.base import SINKS, SinkContext
from inspector.live.sinks.opcua import OpcUaSink

pytestmark = pytest.mark.timeout(60)


def alarm_nodes(sink: OpcUaSink) -> dict:
    async def work(client: Client, ns: int) -> dict:
        values = {name: await read(client, ns, name) for name in ("Alarms", "AlarmActive")}
        types = {
            name: await client.get_node(ua.NodeId(f"Inspector.{name}", ns)).read_data_type_as_variant_type()
            for name in ("Alarms", "AlarmActive")
        }
        return {"values": values, "types": types}

    return client_session(sink.endpoint, work)


def test_alarms_and_alarm_active_follow_a_drift_alarm() -> None:
    monitor = calibrated()
    feed(monitor, 0.0, 300, seed=2)
    context = SinkContext(station="st")
    sink = SINKS["opcua"].from_config(
        {"endpoint": f"opc.tcp://127.0.0.1:{free_port()}/inspector/", "heartbeat_s": 0.1}, context
    )
    sink.start()
    try:
        assert sink.wait_started(30), f"OPC UA server did not start: {sink.stats.last_error}"
        got = alarm_nodes(sink)  # no pipeline bound yet: no alarms
        assert got["values"] == {"Alarms": "", "AlarmActive": False}
        assert got["types"] == {"Alarms": ua.VariantType.String, "AlarmActive": ua.VariantType.Boolean}
        context.bind(DriftingPipeline(monitor))
        feed(monitor, 2.0, 200, seed=3)  # +2 sd: the score CUSUM alarms
        assert "drift_cam0_score_up" in monitor.alarms()
        expected = ",".join(monitor.alarms())
        assert wait_until(lambda: alarm_nodes(sink)["values"]["AlarmActive"], timeout=10)
        assert alarm_nodes(sink)["values"] == {"Alarms": expected, "AlarmActive": True}
        monitor.rebase({"deployed": {"good_scores": [1.0, 2.0], "expected_frr": 0.01}}, THRESHOLD, "model-b")
        assert wait_until(lambda: not alarm_nodes(sink)["values"]["AlarmActive"], timeout=10)
        assert alarm_nodes(sink)["values"] == {"Alarms": "", "AlarmActive": False}
    finally:
        sink.stop(timeout=10)


def test_set_alarms_without_a_source() -> None:
    sink = OpcUaSink(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/inspector/", heartbeat_s=0.1)
    sink.set_alarms(["sqlite_degraded"])  # before start: the server starts with it
    sink.start()
    try:
        assert sink.wait_started(30)
        assert alarm_nodes(sink)["values"] == {"Alarms": "sqlite_degraded", "AlarmActive": True}
        sink.set_alarms(["drift_cam1_ng_rate", "sqlite_degraded"])
        assert alarm_nodes(sink)["values"] == {"Alarms": "drift_cam1_ng_rate,sqlite_degraded", "AlarmActive": True}
        sink.set_alarms([])
        assert alarm_nodes(sink)["values"] == {"Alarms": "", "AlarmActive": False}
    finally:
        sink.stop(timeout=10)
