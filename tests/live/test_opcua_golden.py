"""The golden self-test over OPC UA (issue 10 item 2): a real station (tiny onnxruntime bundle, the real OPC UA sink
and PLC handshake) and a real asyncua client calling `Inspector.RunSelfTest`: it passes on the good set, fails
and blocks (Ready false, PLC error 111) once the threshold is tampered, and the block ends with `inspector golden
ack`; with a configured user, only that user gets in to call it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("asyncua")
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from conftest_services import free_port, wait_until
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_golden import cli, parts
from test_plc_line import opcua_plc

from inspector.engine import Engine
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.live.handshake import ErrorCode
from inspector.live.station import Station, build_station

pytestmark = pytest.mark.timeout(120)
SELF_TEST = ("SelfTestPassed", "SelfTestSummary", "SelfTestTrigger", "SelfTestBlocked", "SelfTestId", "Ready")


def write_station(folder: Path, bundle: Path, endpoint: str, opcua: str = "") -> Path:
    """A station on the tiny bundle (threshold 0.3), one camera the PLC triggers over OPC UA."""
    path = folder / "station.toml"
    path.write_text(f"""schema_version = 1
station = "gold"
[model]
path = "{bundle}"
[[cameras]]
id = "cam"
trigger = "opcua"
[cameras.source]
kind = "synthetic"
size = 64
[sinks.plc]
result_timeout_s = 5.0
[sinks.opcua]
endpoint = "{endpoint}"
heartbeat_s = 0.1
{opcua}""")
    return path


def golden_station(tmp_path: Path, bundle: Path, opcua: str = "") -> tuple[Station, str]:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/inspector/"
    station = build_station(load_config(write_station(tmp_path, bundle, endpoint, opcua)))
    good, bad = parts(tmp_path / "src")
    golden = GoldenSet(station.config.data_dir / "golden")
    golden.add(good, "OK", station.engine)
    golden.add(bad, "NG", station.engine)
    return station, endpoint


async def _session(client: Client, method: bool) -> dict[str, Any]:
    ns = await client.get_namespace_index("urn:inspector")
    root = client.get_node(ua.NodeId("Inspector", ns))
    got: dict[str, Any] = {}
    if method:
        got["call"] = await root.call_method(ua.NodeId("Inspector.RunSelfTest", ns))
    for name in SELF_TEST:
        got[name] = await client.get_node(ua.NodeId(f"Inspector.{name}", ns)).read_value()
    return got


def session(endpoint: str, *, call: bool = False, user: tuple[str, str] | None = None) -> dict[str, Any]:
    """One client session: call RunSelfTest (when `call`), then read the self-test nodes and Ready."""

    async def main() -> dict[str, Any]:
        client = Client(endpoint, timeout=10)
        if user is not None:
            client.set_user(user[0])
            client.set_password(user[1])
        async with client:
            return await _session(client, call)

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_run_self_test_passes_then_a_tampered_threshold_fails_and_blocks_until_acknowledged(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    station, endpoint = golden_station(tmp_path, tiny_bundle_path)
    station.start()
    try:
        opcua = next(sink for sink in station.sinks if sink.kind == "opcua")
        assert opcua.wait_started(30), opcua.stats.last_error
        assert wait_until(lambda: session(endpoint)["SelfTestTrigger"] == "start", 10)  # the start's run shows
        assert wait_until(lambda: session(endpoint)["Ready"], 10), station.snapshot().not_ready
        first = session(endpoint, call=True)
        assert first["call"] == [True, "golden self-test passed (2 samples)"]
        assert first["SelfTestPassed"] is True and first["SelfTestTrigger"] == "opcua"
        assert first["SelfTestBlocked"] is False and first["SelfTestId"] >= 2
        assert station.self_test.last is not None and station.self_test.last.trigger == "opcua"

        running = station.engine
        station.swap_engine(Engine(running.bundle, threshold=0.6))  # tampered: the defect's score is below it now
        assert station.acknowledge_self_test(who="eng-anna", why="looked at it too quickly")  # runs unblocked
        assert wait_until(lambda: session(endpoint)["Ready"], 10), station.snapshot().not_ready

        failed = session(endpoint, call=True)  # the PLC's own check finds it
        reason = "golden self-test failed: scratch.png expected NG got OK"
        assert failed["call"] == [False, reason]
        assert failed["SelfTestPassed"] is False and failed["SelfTestSummary"] == reason
        assert failed["SelfTestBlocked"] is True and failed["SelfTestId"] > first["SelfTestId"]
        assert station.snapshot().not_ready == (reason,)
        assert wait_until(lambda: not session(endpoint)["Ready"], 10)
        (refused,) = asyncio.run(opcua_plc(endpoint, "cam", ["P-1"]))  # every trigger is refused
        assert refused["ErrorCode"] == ErrorCode.SELF_TEST_FAILED == 111 and reason in refused["ErrorText"]

        acked = cli("ack", "--config", str(station.config.path), "--who", "eng-bob", "--why", "threshold restored")
        assert acked.returncode == 0, acked.stderr
        station.swap_engine(running)
        assert wait_until(lambda: session(endpoint)["Ready"] and not session(endpoint)["SelfTestBlocked"], 10)
        (answered,) = asyncio.run(opcua_plc(endpoint, "cam", ["P-2"]))
        assert answered["ErrorCode"] == 0 and answered["ResultPartId"] == "P-2"
    finally:
        station.stop(5.0)


def test_a_self_test_with_no_samples_answers_so_and_does_not_block(tmp_path: Path, tiny_bundle_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/inspector/"
    station = build_station(load_config(write_station(tmp_path, tiny_bundle_path, endpoint)))
    station.start()
    try:
        opcua = next(sink for sink in station.sinks if sink.kind == "opcua")
        assert opcua.wait_started(30), opcua.stats.last_error
        got = session(endpoint, call=True)
        assert got["call"][0] is False and got["call"][1].startswith("no golden samples")
        assert got["SelfTestId"] == 0 and got["SelfTestBlocked"] is False
        assert station.self_test.blocking() == ""
    finally:
        station.stop(5.0)


def test_with_a_user_configured_only_that_user_can_call_it(tmp_path: Path, tiny_bundle_path: Path) -> None:
    cert, key = tmp_path / "server.der", tmp_path / "server.pem"
    asyncio.run(
        setup_self_signed_certificate(
            key,
            cert,
            "urn:inspector:test",
            "127.0.0.1",
            [ExtendedKeyUsageOID.SERVER_AUTH],
            {"commonName": "inspector test"},
        )
    )
    (tmp_path / "password").write_text("s3cret\n")
    user = f'certificate = "{cert}"\nprivate_key = "{key}"\n'
    user += f'username = "plc"\npassword_file = "{tmp_path / "password"}"\n'
    station, endpoint = golden_station(tmp_path, tiny_bundle_path, user)
    station.start()
    try:
        opcua = next(sink for sink in station.sinks if sink.kind == "opcua")
        assert opcua.wait_started(30), opcua.stats.last_error
        for who in (None, ("plc", "wrong"), ("someone", "s3cret")):  # anonymous, a wrong password, another user
            with pytest.raises(ua.UaError):
                session(endpoint, call=True, user=who)
        assert station.self_test.last is not None and station.self_test.last.trigger == "start"  # nobody ran it
        got = session(endpoint, call=True, user=("plc", "s3cret"))
        assert got["call"] == [True, "golden self-test passed (2 samples)"]
    finally:
        station.stop(5.0)
