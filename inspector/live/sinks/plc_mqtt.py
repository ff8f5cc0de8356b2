"""The PLC handshake mirrored on MQTT, through the MQTT sink's client (docs/plc.md).

    <prefix>/<station>/<camera>/plc/trigger   in   {"part_id": "P-1"} (or the part id as plain text)
    <prefix>/<station>/<camera>/plc/ack       in   anything: acknowledges the result shown (the head one)
    <prefix>/<station>/<camera>/plc/state     out  retained: {"state", "state_name", "busy", "pending", ...}
    <prefix>/<station>/<camera>/plc/result    out  QoS 1, once per result when it becomes the one shown
    <prefix>/<station>/plc/heartbeat          out  {"heartbeat": n, "time": ...} every heartbeat_s

Same state machine as OPC UA: a result is published when it is the head, and the next one after an ack
(from either transport). Publishing runs on its own thread, so the handshake's lock is never held while paho
works and paho's network thread can hand triggers to the handshake at any time.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from inspector.live.handshake import Handshake, LaneView

log = logging.getLogger(__name__)
STATE_NAMES = {0: "Idle", 1: "Busy", 2: "ResultReady"}


class MqttPlc:
    """Topics of the handshake on one paho client; `on_message` is called by the MQTT sink for `.../plc/...`."""

    def __init__(self, client: Any, handshake: Handshake, *, base: str, qos: int = 1) -> None:
        self._client = client
        self.handshake = handshake
        self.base = base  # <prefix>/<station>
        self.qos = qos
        self._out: queue.SimpleQueue[tuple[str, bytes, bool] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._publish_loop, name="plc-mqtt", daemon=True)

    @property
    def subscription(self) -> str:
        return f"{self.base}/+/plc/+"

    def start(self) -> None:
        self._thread.start()
        self.handshake.subscribe(self.show, heartbeat=self.beat)

    def stop(self) -> None:
        self.handshake.unsubscribe(self.show)
        self._out.put(None)
        self._thread.join(2.0)

    # ------------------------------------------------------------------ in
    def on_message(self, camera: str, verb: str, payload: bytes) -> None:
        if verb == "trigger":
            self.handshake.trigger(camera, _part_id(payload))
        elif verb == "ack":
            self.handshake.acknowledge(camera)

    # ------------------------------------------------------------------ out (any thread, never blocks)
    def show(self, view: LaneView) -> None:
        result = view.result
        state = {
            "camera": view.camera,
            "state": int(view.state),
            "state_name": STATE_NAMES[int(view.state)],
            "busy": view.busy,
            "pending": view.pending,
            "waiting": view.waiting,
            "part_id": result.part_id if result else "",
            "job_id": result.job_id if result else 0,
        }
        if view.new_result and result is not None:
            self._out.put((f"{self.base}/{view.camera}/plc/result", json.dumps(result.summary()).encode(), False))
        self._out.put((f"{self.base}/{view.camera}/plc/state", json.dumps(state).encode(), True))

    def beat(self, count: int) -> None:
        self._out.put(
            (f"{self.base}/plc/heartbeat", json.dumps({"heartbeat": count, "time": time.time()}).encode(), False)
        )

    def _publish_loop(self) -> None:
        while (item := self._out.get()) is not None:
            topic, payload, retain = item
            try:
                self._client.publish(topic, payload, qos=self.qos, retain=retain)
            except (ValueError, RuntimeError, OSError) as exc:  # paho queues while disconnected; log the rest
                log.error("plc: could not publish %s: %s", topic, exc)


def _part_id(payload: bytes) -> str:
    """`{"part_id": "..."}` or the plain text of the payload."""
    return _field(payload, "part_id")


class MqttRecipes:
    """`<base>/plc/recipe` and `<base>/plc/lot` in (a name, or `{"recipe": ...}` / `{"lot": ...}`); every
    answer, from any front end, out on `<base>/plc/change` (retained; docs/plc.md#recipes)."""

    def __init__(self, client: Any, changeover: Any, *, base: str, qos: int = 1) -> None:
        self._client = client
        self.changeover = changeover
        self.base = base
        self.qos = qos

    @property
    def topics(self) -> dict[str, str]:
        return {f"{self.base}/plc/recipe": "recipe", f"{self.base}/plc/lot": "lot"}

    def start(self) -> None:
        self.changeover.subscribe(self.show)

    def stop(self) -> None:
        self.changeover.unsubscribe(self.show)

    def connected(self) -> None:
        """(Re)subscribe and publish the running recipe and lot."""
        for topic in self.topics:
            self._client.subscribe(topic, qos=1)
        self.show(self.changeover.state())

    def on_message(self, topic: str, payload: bytes) -> bool:
        """Handle `topic` when it is one of ours (True)."""
        kind = self.topics.get(topic)
        if kind is None:
            return False
        self.changeover.submit(kind, _field(payload, kind), who="plc:mqtt")
        return True

    def show(self, outcome: Any) -> None:
        try:
            self._client.publish(
                f"{self.base}/plc/change", json.dumps(outcome.summary()).encode(), qos=self.qos, retain=True
            )
        except (ValueError, RuntimeError, OSError) as exc:
            log.error("plc: could not publish the recipe change: %s", exc)


def _field(payload: bytes, key: str) -> str:
    """`{"<key>": "..."}` or the plain text of the payload."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        return str(data.get(key, "")) if isinstance(data, dict) else ""
    return text


class MqttGolden:
    """`<base>/golden/run` in (any payload): runs the golden self-test on the station's running engine, on a
    thread of its own (never on paho's); the outcome out on `<base>/golden/result` (QoS 1, not retained):
    `{"passed", "reason", "trigger", "time", "model", "recipe", "samples", "failures"}`, `passed` null when
    the set has no samples. A failed run blocks the station as any other (docs/verdicts.md#golden-samples)."""

    def __init__(self, client: Any, run: Any, *, base: str, qos: int = 1) -> None:
        self._client = client
        self._run = run  # Station.run_self_test
        self.base = base
        self.qos = qos

    @property
    def topic(self) -> str:
        return f"{self.base}/golden/run"

    def connected(self) -> None:
        self._client.subscribe(self.topic, qos=1)

    def on_message(self, topic: str, payload: bytes) -> bool:
        """Handle `topic` when it is ours (True): the run starts on its own thread."""
        if topic != self.topic:
            return False
        threading.Thread(target=self._answer, name="golden-mqtt", daemon=True).start()
        return True

    def _answer(self) -> None:
        try:
            outcome = self._run("mqtt")
        except Exception as exc:  # noqa: BLE001 (a failing run is answered, never raised on a bare thread)
            log.error("golden self-test over mqtt failed to run: %s", exc)
            body: dict[str, Any] = {"passed": False, "reason": f"golden self-test could not run ({exc})"}
        else:
            if outcome is None:
                body = {"passed": None, "reason": "no golden samples", "samples": 0}
            else:
                body = {
                    "passed": outcome.passed,
                    "reason": outcome.reason(),
                    "trigger": outcome.trigger,
                    "time": outcome.time,
                    "model": outcome.model,
                    "recipe": outcome.recipe,
                    "samples": len(outcome.rows),
                    "failures": [row.problem for row in outcome.failures],
                }
        try:
            self._client.publish(f"{self.base}/golden/result", json.dumps(body).encode(), qos=self.qos)
        except (ValueError, RuntimeError, OSError) as exc:
            log.error("golden: could not publish the result: %s", exc)
