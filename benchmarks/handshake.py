"""PLC handshake latency: what the handshake adds on top of inspection (issue 13).

Usage: python benchmarks/handshake.py [--model assets/demo.onnx] [--parts 300] [--size 128]

Runs a station (this process) with one software-triggered synthetic camera per transport, an OPC UA server
and a real Mosquitto broker (started on a free 127.0.0.1 port and stopped by this script), and a simulated
PLC per transport that triggers one part at a time and acknowledges each result. Per part:

- PLC round trip: the PLC's trigger sent -> the PLC sees ResultReady for that part (OPC UA: polled with one
  Read every ~1 ms, as a PLC cycle does; MQTT: the `plc/result` message received);
- station: the handshake took the trigger -> the result was decided (the handshake's own clock);
- inference: the engine's `inference` time of that part's frame (from its record).

The table gives p50/p99/max of round trip - inference and of station - inference ("added" latency), and of
inference itself, over `--parts` parts per transport after `--warmup` parts.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspector.live.config import load_config
from inspector.live.handshake import LaneView, PlcResult
from inspector.live.station import Station, build_station

MQTT_USER, MQTT_PASSWORD = "bench", "bench-Pa55word"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Mosquitto:
    """A Mosquitto with password authentication and Nagle off on a free loopback port (docs/plc.md)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not Path(binary).exists() or not Path(passwd_tool).exists():
            raise SystemExit("mosquitto is not installed: apt-get install -y mosquitto")
        passwd = folder / "passwd"
        subprocess.run(
            [passwd_tool, "-b", "-c", str(passwd), MQTT_USER, MQTT_PASSWORD],
            check=True,
            capture_output=True,
            timeout=10,
        )
        passwd.chmod(0o600)
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {passwd}\npersistence false\nset_tcp_nodelay true\n"
        )
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise SystemExit("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def station_config(folder: Path, model: Path, size: int, endpoint: str, broker_port: int) -> Path:
    cameras = "".join(
        f'''
[[cameras]]
id = "{cam}"
trigger = "{trigger}"
[cameras.source]
kind = "synthetic"
fps = 0
size = {size}
'''
        for cam, trigger in (("ua", "opcua"), ("mq", "mqtt"))
    )
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "bench"
[model]
path = "{model}"
{cameras}
[sinks.plc]
result_timeout_s = 10.0
max_pending = 4
[sinks.opcua]
endpoint = "{endpoint}"
[sinks.mqtt]
host = "127.0.0.1"
port = {broker_port}
username = "{MQTT_USER}"
password = "{MQTT_PASSWORD}"
''')
    return path


class Decided:
    """Every result the handshake shows, by part id (its station-side times and inference time)."""

    def __init__(self) -> None:
        self.results: dict[str, PlcResult] = {}

    def __call__(self, view: LaneView) -> None:
        if view.new_result and view.result is not None:
            self.results[view.result.part_id] = view.result


async def opcua_plc(endpoint: str, parts: list[str]) -> dict[str, float]:
    """One part at a time: PartId + Trigger in one Write, Read every ~1 ms until ResultReady, Acknowledge."""
    from asyncua import Client

    seen: dict[str, float] = {}
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:inspector")

        def node(name: str) -> Any:
            return client.get_node(f"ns={ns};s=Inspector.ua.Plc.{name}")

        part_node, trigger, ack = node("PartId"), node("Trigger"), node("Acknowledge")
        watch = [node("ResultReady"), node("ResultJobId"), node("ResultPartId")]
        last_job = None
        for part in parts:
            start = time.perf_counter()
            await client.write_values([part_node, trigger], [part, True])
            while True:
                ready, job, got = await client.read_values(watch)
                if ready and job != last_job:
                    break
                await asyncio.sleep(0.001)
            seen[got] = (time.perf_counter() - start) * 1000
            last_job = job
            await ack.write_value(True)
    return seen


def mqtt_plc(port: int, parts: list[str]) -> dict[str, float]:
    """One part at a time: publish the trigger, wait for `plc/result`, publish the acknowledge."""
    import paho.mqtt.client as mqtt

    from inspector.live.sinks.mqtt import no_delay

    arrived: queue.Queue[tuple[float, dict]] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
    client.on_connect = lambda c, u, f, rc, p: (no_delay(c), c.subscribe("inspector/bench/mq/plc/result", 1))
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, msg: arrived.put((time.perf_counter(), json.loads(msg.payload)))
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    seen: dict[str, float] = {}
    try:
        if not subscribed.wait(10):
            raise SystemExit("the MQTT PLC could not subscribe")
        for part in parts:
            start = time.perf_counter()
            client.publish("inspector/bench/mq/plc/trigger", json.dumps({"part_id": part}), qos=1)
            at, result = arrived.get(timeout=15)
            if result["part_id"] != part:
                raise SystemExit(f"result of {result['part_id']!r} came for part {part!r}")
            seen[part] = (at - start) * 1000
            client.publish("inspector/bench/mq/plc/ack", b"", qos=1)
    finally:
        client.disconnect()
        client.loop_stop()
    return seen


def stats(values: list[float]) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"{p50:7.2f} {p99:7.2f} {max(values):7.2f}"


def report(name: str, parts: list[str], round_trip: dict[str, float], decided: Decided) -> list[str]:
    missing = [part for part in parts if part not in round_trip or part not in decided.results]
    if missing:
        raise SystemExit(f"{name}: {len(missing)} part(s) without a result, first {missing[0]!r}")
    results = [decided.results[part] for part in parts]
    bad = [r.part_id for r in results if r.code.name not in ("OK", "NG", "UNSURE")]
    if bad:
        raise SystemExit(
            f"{name}: {len(bad)} part(s) not inspected (first {bad[0]!r}: "
            f"{decided.results[bad[0]].code.name} {decided.results[bad[0]].error_text})"
        )
    inference = [r.inference_ms for r in results]
    station = [(r.done_at - r.triggered_at) * 1000 - r.inference_ms for r in results]
    plc = [round_trip[r.part_id] - r.inference_ms for r in results]
    return [
        f"{name:<6} {'PLC round trip - inference':<28} {stats(plc)}",
        f"{name:<6} {'station - inference':<28} {stats(station)}",
        f"{name:<6} {'inference':<28} {stats(inference)}",
    ]


def run(station: Station, endpoint: str, broker_port: int, parts: int, warmup: int) -> list[str]:
    decided = Decided()
    station.context.handshake.subscribe(decided)
    rows = []
    for name in ("opcua", "mqtt"):
        names = [f"{name}-{n:05d}" for n in range(warmup + parts)]
        if name == "opcua":
            seen = asyncio.run(opcua_plc(endpoint, names))
        else:
            seen = mqtt_plc(broker_port, names)
        rows += report(name, names[warmup:], seen, decided)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "demo.onnx")
    parser.add_argument("--parts", type=int, default=300, help="timed parts per transport")
    parser.add_argument("--warmup", type=int, default=20, help="untimed parts first")
    parser.add_argument("--size", type=int, default=128, help="camera frame side in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inspector-handshake-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder)
        station = None
        try:
            endpoint = f"opc.tcp://127.0.0.1:{free_port()}/inspector/"
            station = build_station(
                load_config(station_config(folder, args.model.resolve(), args.size, endpoint, broker.port))
            )
            station.start()
            sinks = {sink.kind: sink for sink in station.sinks}
            if not (sinks["opcua"].wait_started(20) and sinks["mqtt"].wait_connected(10)):
                raise SystemExit("the OPC UA server or the MQTT connection did not come up")
            rows = run(station, endpoint, broker.port, args.parts, args.warmup)
        finally:
            if station is not None:
                station.stop(5.0)
            broker.stop()
    print(
        f"model {args.model.name}, frames {args.size}x{args.size}, {args.parts} parts per transport "
        f"(after {args.warmup} warm-up), one part at a time; ms"
    )
    print(f"{'':<6} {'':<28} {'p50':>7} {'p99':>7} {'max':>7}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
