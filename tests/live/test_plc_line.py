"""Must-show (issue 13): simulated PLCs run the full handshake against a running station, with a real asyncua
server and client, a real Mosquitto broker and paho client, a real onnxruntime model and the SQLite log.

Each frame encodes its part's number in one pixel, and the tiny bundle's score is that pixel's deviation, so
a result's score names the frame it came from: a result given to the wrong part is caught, not just a lost one.
"""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("asyncua")
pytest.importorskip("paho.mqtt")
import paho.mqtt.client as mqtt
from asyncua import Client
from conftest import make_tiny_bundle
from conftest_services import Broker, free_port, make_mosquitto, wait_until

from inspector.audit import AuditLog
from inspector.live.config import load_config
from inspector.live.handshake import ErrorCode, ResultCode
from inspector.live.sinks.mqtt import no_delay
from inspector.live.sources.base import Source
from inspector.live.station import Station, build_station

pytestmark = pytest.mark.timeout(240)
PARTS = 1000
SIZE = 64  # the tiny bundle's input: no resize, so the score is exactly the pixel's deviation
LEVELS = 111  # part n's pixel value is 140 + n % LEVELS (scores 0.05..0.48: OK and NG around 0.3)


def level_of(score: float) -> int:
    return round((score + 0.5) * 255) - 140


class EncodedLine(Source):
    """Part n of the line is a grey frame whose pixel (0, 0) is 140 + n % LEVELS. Software-triggered
    (`live = False`): the camera reads one frame per trigger. `pulses`: a hardware-triggered camera, which
    delivers a frame only when the line fires its trigger input (the queue holds the part numbers fired)."""

    live = False

    def __init__(self, pulses: queue.Queue[int] | None = None, **runtime: Any) -> None:
        super().__init__(**runtime)
        self.pulses = pulses
        self.live = pulses is not None
        self.served = 0

    def read(self) -> np.ndarray:
        n = self.served if self.pulses is None else self.pulses.get(timeout=30)
        self.served += 1
        frame = np.full((SIZE, SIZE, 3), 128, np.uint8)
        frame[0, 0] = 140 + n % LEVELS
        return frame


class SlowEngine:
    """The running engine, `delay_s` slower per batch (inspection made slow on purpose)."""

    def __init__(self, engine: Any, delay_s: float) -> None:
        self._engine, self.delay_s = engine, delay_s

    def inspect(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay_s)
        return self._engine.inspect(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Mosquitto with Nagle off (`set_tcp_nodelay`), as docs/plc.md asks of a line's broker: small
    handshake messages otherwise wait ~40 ms each for delayed TCP acknowledgements."""
    process, broker = make_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    with process.conf.open("a") as conf:
        conf.write("set_tcp_nodelay true\n")
    process.start()
    try:
        yield broker
    finally:
        process.stop()


@pytest.fixture(scope="module")
def line(
    tmp_path_factory: pytest.TempPathFactory, tiny_bundle_path: Path, mosquitto: Broker
) -> Iterator[tuple[Station, str, queue.Queue[int]]]:
    folder = tmp_path_factory.mktemp("line")
    recipe_b = make_tiny_bundle(folder / "b.onnx", threshold=0.2)  # recipe B: another bundle, another threshold
    tampered = folder / "bad.onnx"  # recipe "bad": its bundle no longer matches its checksum
    shutil.copy(tiny_bundle_path, tampered)
    shutil.copy(f"{tiny_bundle_path}.sha256", f"{tampered}.sha256")
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/inspector/"
    cameras = "".join(
        f'''
[[cameras]]
id = "{cam}"
trigger = "{trigger}"
read_timeout_s = 30
[cameras.source]
kind = "synthetic"
fps = 0
size = {SIZE}
'''
        for cam, trigger in (("ua", "opcua"), ("mq", "mqtt"), ("hw", "hardware"))
    )
    (folder / "station.toml").write_text(f'''schema_version = 1
station = "line"
recipe = "A"
[model]
path = "{tiny_bundle_path}"
[recipes.A]
model = "{tiny_bundle_path}"
[recipes.B]
model = "{recipe_b}"
[recipes.bad]
model = "{tampered}"
[pipeline]
queue_size = 8
{cameras}
[sinks.plc]
result_timeout_s = 5.0
max_pending = 4
heartbeat_s = 0.2
[sinks.opcua]
endpoint = "{endpoint}"
[sinks.mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
username = "{mosquitto.username}"
password = "{mosquitto.password}"
[sinks.sqlite]
path = "log.db"
save_ok_every = 0
''')
    pulses: queue.Queue[int] = queue.Queue()
    station = build_station(
        load_config(folder / "station.toml"),
        source_factories={"ua": EncodedLine, "mq": EncodedLine, "hw": lambda: EncodedLine(pulses)},
    )
    station.start()
    sinks = {sink.kind: sink for sink in station.sinks}
    assert sinks["opcua"].wait_started(20) and sinks["mqtt"].wait_connected(10)
    assert wait_until(station.pipeline.cameras_up, 10)
    try:
        yield station, endpoint, pulses
    finally:
        pulses.put(0)  # the hardware camera's read returns, so it is released at once
        station.stop(5.0)


class MqttPlcClient:
    """A PLC on MQTT: triggers parts, collects `plc/result` messages, acknowledges each."""

    def __init__(self, broker: Broker, *cameras: str) -> None:
        self.results: dict[str, queue.Queue[dict]] = {cam: queue.Queue() for cam in cameras}
        self.changes: queue.Queue[dict] = queue.Queue()  # answers to recipe and lot commands
        self.beats: list[int] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(broker.username, broker.password)
        topics = [(f"inspector/line/{cam}/plc/result", 1) for cam in cameras] + [
            ("inspector/line/plc/heartbeat", 0),
            ("inspector/line/plc/change", 1),
        ]
        self.client.on_connect = lambda c, u, f, rc, p: (no_delay(c), c.subscribe(topics))
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("heartbeat"):
            self.beats.append(json.loads(msg.payload)["heartbeat"])
        elif msg.topic.endswith("plc/change"):
            self.changes.put(json.loads(msg.payload))
        else:
            self.results[msg.topic.split("/")[-3]].put(json.loads(msg.payload))

    def trigger(self, camera: str, part_id: str) -> None:
        self.client.publish(f"inspector/line/{camera}/plc/trigger", json.dumps({"part_id": part_id}), qos=1)

    def command(self, verb: str, value: str) -> dict:
        """Publish a recipe or lot command and wait for its answer (the retained state comes first)."""
        self.client.publish(f"inspector/line/plc/{verb}", value, qos=1)
        while True:
            answer = self.changes.get(timeout=15)
            if answer["requested"] == value and answer["kind"] == verb:
                return answer

    def run(
        self, camera: str, parts: list[str], window: int = 3, on_result: Callable[[int], None] | None = None
    ) -> list[dict]:
        results: list[dict] = []
        sent = 0
        while len(results) < len(parts):
            while sent < len(parts) and sent - len(results) < window:
                self.trigger(camera, parts[sent])
                sent += 1
            results.append(self.results[camera].get(timeout=15))
            self.client.publish(f"inspector/line/{camera}/plc/ack", b"", qos=1)
            if on_result is not None:
                on_result(len(results))
        return results

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def opcua_plc(endpoint: str, camera: str, parts: list[str], window: int = 3) -> list[dict]:
    """A PLC on OPC UA: PartId + Trigger in one Write, poll ResultReady/ResultJobId, read the result, Acknowledge."""
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:inspector")

        def node(name: str) -> Any:
            return client.get_node(f"ns={ns};s=Inspector.{camera}.Plc.{name}")

        part_node, trigger, ack = node("PartId"), node("Trigger"), node("Acknowledge")
        names = ("ResultReady", "ResultJobId", "ResultPartId", "ResultState", "ResultScore", "ErrorCode", "ErrorText")
        watch = [node(name) for name in names]
        results: list[dict] = []
        sent, last_job = 0, None
        deadline = time.monotonic() + 120
        while len(results) < len(parts) and time.monotonic() < deadline:
            while sent < len(parts) and sent - len(results) < window:
                await client.write_values([part_node, trigger], [parts[sent], True])
                sent += 1
            values = dict(zip(names, await client.read_values(watch), strict=True))
            if values["ResultReady"] and values["ResultJobId"] != last_job:
                last_job = values["ResultJobId"]
                results.append(values)
                await ack.write_value(True)
            else:
                await asyncio.sleep(0.002)
        return results


def check_results(parts: list[str], got: list[tuple[str, int, float]]) -> None:
    """Every part answered once, in order, by the frame of that part (its score names the frame)."""
    assert [part for part, _, _ in got] == parts, "a result was lost, duplicated or given to another part"
    for n, (part, code, score) in enumerate(got):
        assert level_of(score) == n % LEVELS, f"{part} got the result of another part's frame"
        if abs(score - 0.3) > 1e-4:  # (the level at the threshold itself is NG or OK by float rounding)
            assert code == (ResultCode.NG if score > 0.3 else ResultCode.OK)


def logged(station: Station, camera: str) -> dict[str, tuple[str, float]]:
    path = next(sink for sink in station.sinks if sink.kind == "sqlite").path
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT part_id, verdict, score FROM inspections WHERE camera = ?", (camera,)).fetchall()
    return {part: (verdict, score) for part, verdict, score in rows}


def test_opcua_plc_runs_1000_parts_mirrored_on_mqtt(line, mosquitto: Broker) -> None:
    station, endpoint, _ = line
    mirror = MqttPlcClient(mosquitto, "ua")
    parts = [f"UA-{n:05d}" for n in range(PARTS)]
    try:
        results = asyncio.run(opcua_plc(endpoint, "ua", parts))
        check_results(parts, [(r["ResultPartId"], r["ResultState"], r["ResultScore"]) for r in results])
        assert [r["ResultJobId"] for r in results] == list(range(1, PARTS + 1))
        mirrored = [mirror.results["ua"].get(timeout=5) for _ in range(PARTS)]
        assert [m["part_id"] for m in mirrored] == parts  # the same results, on MQTT
        assert mirror.beats and mirror.beats == sorted(mirror.beats)  # the heartbeat
    finally:
        mirror.close()
    assert wait_until(lambda: len(logged(station, "ua")) >= PARTS, 10)
    rows = logged(station, "ua")
    for r in results:  # every record carries its part id, with the verdict the PLC got
        assert rows[r["ResultPartId"]] == (ResultCode(r["ResultState"]).name, pytest.approx(r["ResultScore"]))


def test_mqtt_plc_runs_1000_parts(line, mosquitto: Broker) -> None:
    station, _, _ = line
    plc = MqttPlcClient(mosquitto, "mq")
    parts = [f"MQ-{n:05d}" for n in range(PARTS)]
    try:
        results = plc.run("mq", parts)
    finally:
        plc.close()
    check_results(parts, [(r["part_id"], r["result_code"], r["score"]) for r in results])
    assert wait_until(lambda: len(logged(station, "mq")) >= PARTS, 10)
    assert {part: verdict for part, (verdict, _) in logged(station, "mq").items()} == {
        r["part_id"]: r["result"] for r in results
    }


def test_slow_inspection_gives_timeouts_and_a_full_lane_busy_then_recovers(line, mosquitto: Broker) -> None:
    station, _, _ = line
    handshake = station.context.handshake
    plc = MqttPlcClient(mosquitto, "mq")
    engine = station.engine
    try:
        station.swap_engine(SlowEngine(engine, delay_s=0.6))
        handshake.result_timeout_s = 0.3
        parts = [f"SLOW-{n}" for n in range(7)]  # one in inspection + max_pending 4 + 2 beyond
        for part in parts:
            plc.trigger("mq", part)
        got = []
        for _ in parts:
            got.append(plc.results["mq"].get(timeout=15))
            plc.client.publish("inspector/line/mq/plc/ack", b"", qos=1)
        by_part = {r["part_id"]: r for r in got}
        assert sorted(by_part) == sorted(parts)  # every part answered exactly once, none silently
        assert [by_part[p]["result"] for p in parts] == ["TIMEOUT"] * 5 + ["BUSY"] * 2
        assert {by_part[p]["error_code"] for p in parts[:5]} == {ErrorCode.TIMEOUT}
        assert {by_part[p]["error_code"] for p in parts[5:]} == {ErrorCode.QUEUE_FULL}
        assert wait_until(lambda: handshake.stats.late >= 1, 5)  # the slow verdict came, after its deadline
    finally:
        station.swap_engine(engine)
        handshake.result_timeout_s = 5.0
    try:
        time.sleep(1.0)  # the frames still in the slow engine finish (late) before the next parts
        results = plc.run("mq", ["AFTER-0", "AFTER-1"])
    finally:
        plc.close()
    assert [(r["part_id"], r["result"] in ("OK", "NG")) for r in results] == [("AFTER-0", True), ("AFTER-1", True)]


def test_hardware_triggered_camera_a_frame_per_pulse_and_a_missing_frame_times_out_alone(line, mosquitto) -> None:
    station, _, pulses = line
    handshake = station.context.handshake
    handshake.result_timeout_s = 1.0
    plc = MqttPlcClient(mosquitto, "hw")
    try:
        got = []
        for n in range(60):
            plc.trigger("hw", f"HW-{n}")  # the PLC announces the part ...
            assert wait_until(lambda: handshake.view("hw").busy, 5)
            if n != 30:  # ... and fires the camera's trigger input (part 30's frame is lost)
                pulses.put(n)
            got.append(plc.results["hw"].get(timeout=10))
            plc.client.publish("inspector/line/hw/plc/ack", b"", qos=1)
    finally:
        handshake.result_timeout_s = 5.0
        plc.close()
    assert [r["part_id"] for r in got] == [f"HW-{n}" for n in range(60)]
    assert got[30]["result"] == "TIMEOUT"
    for n, r in enumerate(got):
        if n != 30:
            assert level_of(r["score"]) == n % LEVELS, f"HW-{n} got another part's frame"


def test_lot_and_a_wrong_recipe_over_opcua_are_answered(line, mosquitto: Broker) -> None:
    """The PLC sets the lot and asks for a recipe the station does not have (error 107) on OPC UA."""
    station, endpoint, _ = line

    async def plc() -> list[dict]:
        async with Client(endpoint, timeout=10) as client:
            ns = await client.get_namespace_index("urn:inspector")
            names = ("ChangeId", "ChangeRequest", "ChangeErrorCode", "ChangeErrorText", "Recipe", "Lot")
            nodes = [client.get_node(f"ns={ns};s=Inspector.{name}") for name in names]
            answers = []
            for node, value in (("LotSelect", "LOT-7"), ("RecipeSelect", "nope")):
                before = await nodes[0].read_value()
                await client.get_node(f"ns={ns};s=Inspector.{node}").write_value(value)
                for _ in range(500):
                    values = dict(zip(names, await client.read_values(nodes), strict=True))
                    if values["ChangeId"] != before:
                        break
                    await asyncio.sleep(0.01)
                answers.append(values)
            return answers

    lot, wrong = asyncio.run(plc())
    assert (lot["ChangeRequest"], lot["ChangeErrorCode"], lot["Lot"]) == ("LOT-7", 0, "LOT-7")
    assert (wrong["ChangeRequest"], wrong["ChangeErrorCode"], wrong["Recipe"]) == (
        "nope",
        ErrorCode.UNKNOWN_RECIPE,
        "A",
    )
    assert "no recipe 'nope'" in wrong["ChangeErrorText"]
    results = asyncio.run(opcua_plc(endpoint, "ua", ["LOT7-0", "LOT7-1"]))
    assert [r["ResultPartId"] for r in results] == ["LOT7-0", "LOT7-1"]
    assert wait_until(lambda: "LOT7-1" in logged(station, "ua"), 10)
    path = next(sink for sink in station.sinks if sink.kind == "sqlite").path
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT lot, recipe FROM inspections WHERE part_id LIKE 'LOT7-%'").fetchall()
    assert rows == [("LOT-7", "A")] * 2
    station.changeover.set_lot("", who="test")


def test_recipe_changeover_in_the_middle_of_1000_parts_a_bad_recipe_refused(line, mosquitto: Broker) -> None:
    """At part 500 the PLC asks for recipe "bad" (tampered bundle: refused with 108, A keeps running), then for
    B (another bundle, threshold 0.2): every part still gets its own result, each judged by one recipe,
    A up to the changeover and B after it, and the SQLite log says which."""
    station, _, _ = line
    plc = MqttPlcClient(mosquitto, "mq")
    parts = [f"CH-{n:05d}" for n in range(PARTS)]
    answers: list[dict] = []
    changer: list[threading.Thread] = []

    def change_at_500(done: int) -> None:
        if done == 500:  # on its own thread: the PLC keeps triggering parts through the changeover
            changer.append(
                threading.Thread(
                    target=lambda: answers.extend([plc.command("recipe", "bad"), plc.command("recipe", "B")])
                )
            )
            changer[0].start()

    try:
        results = plc.run("mq", parts, on_result=change_at_500)
        changer[0].join(30)
    finally:
        plc.close()
    bad, good = answers
    assert (bad["error_code"], bad["recipe"]) == (ErrorCode.RECIPE_REFUSED, "A")  # refused, the old one kept
    assert "differs from its sidecar" in bad["error_text"]
    assert (good["error_code"], good["recipe"]) == (0, "B")
    assert [r["part_id"] for r in results] == parts  # no result lost, duplicated or reordered
    recipes = [r["recipe"] for r in results]
    switch = recipes.index("B")
    assert 500 <= switch < PARTS - 100 and recipes == ["A"] * switch + ["B"] * (PARTS - switch)
    thresholds = {"A": 0.3, "B": 0.2}
    first = level_of(results[0]["score"])  # the camera's frame count goes on from the tests before
    for n, r in enumerate(results):
        assert level_of(r["score"]) == (first + n) % LEVELS, f"{r['part_id']} got the result of another part's frame"
        threshold = thresholds[r["recipe"]]
        if abs(r["score"] - threshold) > 1e-4:  # each verdict is its recipe's
            assert r["result"] == ("NG" if r["score"] > threshold else "OK"), r
    assert wait_until(lambda: len([p for p in logged(station, "mq") if p.startswith("CH-")]) >= PARTS, 10)
    path = next(sink for sink in station.sinks if sink.kind == "sqlite").path
    with sqlite3.connect(path) as db:
        logged_recipes = dict(db.execute("SELECT part_id, recipe FROM inspections WHERE part_id LIKE 'CH-%'"))
    assert logged_recipes == {r["part_id"]: r["recipe"] for r in results}
    entries = [e for e in AuditLog(station.config.data_dir / "audit.jsonl").entries() if e["target"] in ("bad", "B")]
    assert [(e["action"], e["who"]) for e in entries] == [("recipe_refused", "plc:mqtt"), ("recipe", "plc:mqtt")]
    assert entries[1]["old"]["recipe"] == "A" and entries[1]["new"]["model"] == station.engine.fingerprint
    assert station.changeover.select("A", who="test").ok  # back to A for whatever runs next
