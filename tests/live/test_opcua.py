"""OPC UA sink: a real asyncua client round trip on a free loopback port (verdicts, counts, trigger, heartbeat)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("asyncua")
from asyncua import Client, ua
from conftest_services import free_port, wait_until

from inspector.live.record import FrameRecord
from inspector.live.sinks.base import SINKS, SinkContext
from inspector.live.sinks.opcua import OpcUaSink
from inspector.live.snapshot import PipelineSnapshot
from inspector.result import InspectionResult, verdict_for

pytestmark = pytest.mark.timeout(60)


def record(camera: str, frame_id: int, score: float) -> FrameRecord:
    result = InspectionResult(score=score, threshold=0.5, verdict=verdict_for(score, 0.5), model_fingerprint="abc")
    return FrameRecord(station="st", camera=camera, frame_id=frame_id, captured_at=1.0, result=result)


class Triggers:
    def __init__(self) -> None:
        self.cameras: list[str] = []
        self.event = threading.Event()

    def __call__(self, camera: str) -> None:
        self.cameras.append(camera)
        self.event.set()


class Pipeline:
    """What the daemon's SinkContext points at: ready flag, camera ids, trigger."""

    def __init__(self, triggers: Triggers) -> None:
        self.is_ready = False
        self.triggers = triggers
        self.cameras = {"cam0": None, "cam1": None}

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot()

    def ready(self) -> bool:
        return self.is_ready

    def trigger(self, camera: str | None = None) -> list[str]:
        self.triggers(camera or "")
        return [camera or ""]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(Triggers())


@pytest.fixture(scope="module")
def server(pipeline: Pipeline) -> Iterator[tuple[OpcUaSink, Triggers]]:
    context = SinkContext(station="st")  # the station builder builds the sinks first, then binds the pipeline
    sink = SINKS["opcua"].from_config(
        {"endpoint": f"opc.tcp://127.0.0.1:{free_port()}/inspector/", "heartbeat_s": 0.2}, context
    )
    context.bind(pipeline)
    triggers = pipeline.triggers
    sink.start()
    assert sink.wait_started(30), f"OPC UA server did not start: {sink.stats.last_error}"
    yield sink, triggers
    sink.stop(timeout=10)


def client_session(endpoint: str, work: Any) -> Any:
    """Run `await work(client, ns)` in a fresh asyncua client session, all under one timeout."""

    async def main() -> Any:
        async with Client(endpoint, timeout=5) as client:
            ns = await client.get_namespace_index("urn:inspector")
            return await work(client, ns)

    return asyncio.run(asyncio.wait_for(main(), 20))


async def read(client: Client, ns: int, name: str) -> Any:
    return await client.get_node(ua.NodeId(f"Inspector.{name}", ns)).read_value()


def test_registered_and_loopback_only(server: tuple[OpcUaSink, Triggers]) -> None:
    sink, _ = server
    assert SINKS["opcua"] is OpcUaSink
    assert sink.endpoint.startswith("opc.tcp://127.0.0.1:")
    with pytest.raises(ValueError):
        OpcUaSink(endpoint="http://127.0.0.1:4840/")


def test_client_reads_verdicts_and_counts(server: tuple[OpcUaSink, Triggers], pipeline: Pipeline) -> None:
    sink, _ = server
    assert sink.cameras == ["cam0", "cam1"]  # taken from the pipeline at open
    before = sink.stats.written
    for r in (record("cam0", 1, 0.1), record("cam1", 2, 0.8), record("cam0", 3, 0.9)):
        sink.submit(r)
    assert wait_until(lambda: sink.stats.written == before + 3)
    pipeline.is_ready = True  # Ready follows the pipeline within a heartbeat
    time.sleep(0.5)

    async def work(client: Client, ns: int) -> dict:
        names = [
            "Ready",
            "LastCamera",
            "LastVerdict",
            "LastScore",
            "LastFrameId",
            "PartCount",
            "NGCount",
            "cam0.PartCount",
            "cam0.NGCount",
            "cam1.LastVerdict",
            "cam1.PartCount",
        ]
        values = {name: await read(client, ns, name) for name in names}
        types = {
            name: await client.get_node(ua.NodeId(f"Inspector.{name}", ns)).read_data_type_as_variant_type()
            for name in ("PartCount", "LastScore", "LastVerdict", "Ready")
        }
        return {"values": values, "types": types}

    got = client_session(sink.endpoint, work)
    assert got["values"] == {
        "Ready": True,
        "LastCamera": "cam0",
        "LastVerdict": "NG",
        "LastScore": pytest.approx(0.9),
        "LastFrameId": 3,
        "PartCount": before + 3,
        "NGCount": 2,
        "cam0.PartCount": 2,
        "cam0.NGCount": 1,
        "cam1.LastVerdict": "NG",
        "cam1.PartCount": 1,
    }
    assert got["types"] == {
        "PartCount": ua.VariantType.Int64,
        "LastScore": ua.VariantType.Double,
        "LastVerdict": ua.VariantType.String,
        "Ready": ua.VariantType.Boolean,
    }


def test_plc_write_of_trigger_calls_on_trigger(server: tuple[OpcUaSink, Triggers]) -> None:
    sink, triggers = server
    triggers.cameras.clear()
    triggers.event.clear()

    async def work(client: Client, ns: int) -> Any:
        node = client.get_node(ua.NodeId("Inspector.cam1.Trigger", ns))
        await node.write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))  # False: no trigger
        await node.write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
        for _ in range(100):  # the server resets it once taken (handshake for the PLC)
            if not await node.read_value():
                break
            await asyncio.sleep(0.02)
        readonly = client.get_node(ua.NodeId("Inspector.LastVerdict", ns))
        try:
            await readonly.write_value(ua.DataValue(ua.Variant("OK", ua.VariantType.String)))
            denied = False
        except ua.UaStatusCodeError:
            denied = True
        return await node.read_value(), denied

    reset_value, denied = client_session(sink.endpoint, work)
    assert triggers.event.wait(5)
    assert triggers.cameras == ["cam1"]
    assert reset_value is False
    assert denied, "a client must not be able to overwrite LastVerdict"


def test_heartbeat_increases(server: tuple[OpcUaSink, Triggers]) -> None:
    sink, _ = server

    async def work(client: Client, ns: int) -> tuple[int, int]:
        first = await read(client, ns, "Heartbeat")
        await asyncio.sleep(0.7)
        return first, await read(client, ns, "Heartbeat")

    first, second = client_session(sink.endpoint, work)
    assert second >= first + 2


def test_stop_releases_the_port() -> None:
    port = free_port()
    sink = OpcUaSink(endpoint=f"opc.tcp://127.0.0.1:{port}/inspector/", cameras=["cam0"])
    sink.set_ready(True)  # before start: applied when the server comes up
    sink.start()
    assert sink.wait_started(30)

    async def work(client: Client, ns: int) -> bool:
        return await read(client, ns, "Ready")

    assert client_session(sink.endpoint, work) is True
    sink.stop(timeout=10)
    with pytest.raises(ConnectionError):
        sink.write(record("cam0", 1, 0.1))
    with socket.socket() as sock:  # nothing listens there any more (TIME_WAIT is fine)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
