"""OPC UA sink (asyncua): a small server the PLC reads verdicts from and writes triggers to.

Address space (namespace ``urn:inspector`` unless changed; every node has a stable string NodeId)::

    Objects/Inspector                       ns=<i>;s=Inspector
        Ready        Boolean   read-only    model loaded and cameras up (set_ready)
        Heartbeat    Int64     read-only    +1 every second while the daemon runs (a PLC watchdog)
        LastCamera   String    read-only    camera of the last inspected part
        LastVerdict  String    read-only    "OK" / "NG" of the last part (any camera)
        LastScore    Double    read-only
        LastFrameId  Int64     read-only
        PartCount    Int64     read-only    parts inspected since start (all cameras)
        NGCount      Int64     read-only
        <camera>/                           ns=<i>;s=Inspector.<camera>   one object per camera
            Trigger      Boolean  WRITABLE  PLC writes True -> that camera grabs its next frame;
                                            the server resets it to False once taken (handshake)
            LastVerdict, LastScore, LastFrameId, PartCount, NGCount   (that camera only)

Design choice: one Trigger node per camera (no camera argument to pass), so a PLC maps each camera to one
Boolean. The asyncio loop of the server runs in the sink's own thread; `write()` and `set_ready()` hand work
to it from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.node import Node

from inspector.live.record import FrameRecord
from inspector.live.sinks.base import Sink, SinkContext, register_sink
from inspector.live.sources.base import redact_url

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840/inspector/"
TriggerCallback = Callable[[str], None]

_STATION_VARS: dict[str, tuple[Any, ua.VariantType]] = {
    "Ready": (False, ua.VariantType.Boolean),
    "Heartbeat": (0, ua.VariantType.Int64),
    "LastCamera": ("", ua.VariantType.String),
    "LastVerdict": ("", ua.VariantType.String),
    "LastScore": (0.0, ua.VariantType.Double),
    "LastFrameId": (0, ua.VariantType.Int64),
    "PartCount": (0, ua.VariantType.Int64),
    "NGCount": (0, ua.VariantType.Int64),
}
_CAMERA_VARS = {k: _STATION_VARS[k] for k in ("LastVerdict", "LastScore", "LastFrameId", "PartCount", "NGCount")}


@register_sink("opcua")
class OpcUaSink(Sink):
    """Serves the station's state over OPC UA and turns PLC writes of a camera's Trigger into `on_trigger`.

    `cameras`: ids (or a callable giving them at open) that get a camera object and Trigger node.
    `ready`: polled every heartbeat to drive the Ready node (else use `set_ready`).
    """

    def __init__(self, *, station: str = "station", endpoint: str = DEFAULT_ENDPOINT,
                 cameras: Iterable[str] | Callable[[], Iterable[str]] = (), namespace: str = "urn:inspector",
                 on_trigger: TriggerCallback | None = None, ready: Callable[[], bool] | None = None,
                 heartbeat_s: float = 1.0, certificate: str | None = None, private_key: str | None = None,
                 allow_unsecured: bool = True, start_timeout: float = 30.0, queue_size: int = 256,
                 retries: int = 3, retry_delay: float = 0.5) -> None:
        super().__init__(queue_size=queue_size, retries=retries, retry_delay=retry_delay)
        if urlsplit(endpoint).scheme != "opc.tcp":
            raise ValueError(f"OPC UA endpoint must start with opc.tcp://, got {redact_url(endpoint)}")
        if not allow_unsecured and not (certificate and private_key):
            raise ValueError("allow_unsecured=false needs certificate and private_key")
        self.station = station
        self.endpoint = endpoint
        self._camera_ids = cameras
        self.cameras: list[str] = [] if callable(cameras) else list(dict.fromkeys(str(c) for c in cameras))
        self.ready_source = ready
        self.namespace = namespace
        self.on_trigger = on_trigger
        self.heartbeat_s = float(heartbeat_s)
        self._certificate = certificate
        self._private_key = private_key
        self._allow_unsecured = allow_unsecured
        self._start_timeout = float(start_timeout)
        self._ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._server: Server | None = None
        self._nodes: dict[str, Node] = {}  # "Ready", "cam0.Trigger", ...
        self._trigger_ids: dict[ua.NodeId, str] = {}
        self._counts: dict[str, list[int]] = {}  # "" (station) / camera -> [parts, ng]
        self._heartbeat_task: asyncio.Task | None = None
        self._started = threading.Event()
        self._ns = 0
        self.triggers_received = 0

    @classmethod
    def from_config(cls, settings: dict, context: SinkContext) -> OpcUaSink:
        """From `[sinks.opcua]` (endpoint, ...) and the daemon's context (filled in once the pipeline exists)."""
        return cls(station=context.station, on_trigger=lambda camera: context.trigger(camera),
                   cameras=lambda: list(context.snapshot().get("cameras", {})), ready=lambda: context.ready(),
                   **settings)

    # thread bridge ------------------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 5.0) -> Any:
        if self._loop is None or not self._started.is_set():
            coro.close()
            raise ConnectionError("OPC UA server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def wait_started(self, timeout: float) -> bool:
        """True once the server accepts clients."""
        return self._started.wait(timeout)

    @property
    def namespace_index(self) -> int:
        return self._ns

    # lifecycle ----------------------------------------------------------------------------------------
    def open(self) -> None:
        if callable(self._camera_ids):
            self.cameras = list(dict.fromkeys(str(c) for c in self._camera_ids()))
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._loop_thread = threading.Thread(target=loop.run_forever, name="sink-opcua-loop", daemon=True)
        self._loop_thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), loop).result(self._start_timeout)
        except BaseException:
            self._stop_loop()
            raise
        self._started.set()
        log.info("OPC UA server listening on %s (%d camera trigger node(s))", redact_url(self.endpoint),
                 len(self.cameras))

    async def _start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Inspector {self.station}")
        policies = [ua.SecurityPolicyType.NoSecurity] if self._allow_unsecured else []
        if self._certificate and self._private_key:
            await server.load_certificate(self._certificate)
            await server.load_private_key(self._private_key)
            policies += [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign]
        server.set_security_policy(policies)
        if not (self._certificate and self._private_key):  # no encryption: never accept a password in clear
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        self._ns = ns = await server.register_namespace(self.namespace)
        root = await server.nodes.objects.add_object(ua.NodeId("Inspector", ns), ua.QualifiedName("Inspector", ns))
        for name, (value, vtype) in _STATION_VARS.items():
            self._nodes[name] = await root.add_variable(ua.NodeId(f"Inspector.{name}", ns),
                                                        ua.QualifiedName(name, ns), value, varianttype=vtype)
        self._counts[""] = [0, 0]
        for cam in self.cameras:
            obj = await root.add_object(ua.NodeId(f"Inspector.{cam}", ns), ua.QualifiedName(cam, ns))
            for name, (value, vtype) in _CAMERA_VARS.items():
                self._nodes[f"{cam}.{name}"] = await obj.add_variable(
                    ua.NodeId(f"Inspector.{cam}.{name}", ns), ua.QualifiedName(name, ns), value, varianttype=vtype)
            trigger = await obj.add_variable(ua.NodeId(f"Inspector.{cam}.Trigger", ns), ua.QualifiedName("Trigger", ns),
                                             False, varianttype=ua.VariantType.Boolean)
            await trigger.set_writable()
            self._nodes[f"{cam}.Trigger"] = trigger
            self._trigger_ids[trigger.nodeid] = cam
            self._counts[cam] = [0, 0]
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_post_write)
        await self._nodes["Ready"].write_value(self._ready, varianttype=ua.VariantType.Boolean)
        await server.start()
        self._server = server
        self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        beat = 0
        while True:
            await asyncio.sleep(self.heartbeat_s)
            beat += 1
            await self._nodes["Heartbeat"].write_value(beat, varianttype=ua.VariantType.Int64)
            if self.ready_source is not None:
                try:
                    ready = bool(self.ready_source())
                except Exception as exc:  # a failing probe means "not ready", never a dead heartbeat
                    log.warning("OPC UA ready probe failed: %s", redact_url(str(exc)))
                    ready = False
                if ready != self._ready:
                    self._ready = ready
                    await self._nodes["Ready"].write_value(ready, varianttype=ua.VariantType.Boolean)

    async def _on_post_write(self, event: ServerItemCallback, dispatcher: object) -> None:
        """A client wrote something: a True on a camera's Trigger asks that camera for a frame."""
        if not event.is_external:
            return
        statuses = event.response_params or []
        for i, item in enumerate(event.request_params.NodesToWrite):
            cam = self._trigger_ids.get(item.NodeId)
            if cam is None or item.AttributeId != ua.AttributeIds.Value:
                continue
            if i < len(statuses) and not statuses[i].is_good():
                continue
            if not bool(item.Value.Value.Value):
                continue
            self.triggers_received += 1
            if self.on_trigger is None:
                log.warning("OPC UA trigger for %r ignored: no trigger handler", cam)
            else:
                try:
                    self.on_trigger(cam)
                except Exception as exc:  # the PLC's write must not break the server
                    log.error("trigger handler for camera %r failed: %s", cam, redact_url(str(exc)))
            await self._nodes[f"{cam}.Trigger"].write_value(False, varianttype=ua.VariantType.Boolean)

    def set_ready(self, ready: bool) -> None:
        """Set the Ready node (callable from any thread, before or after start)."""
        self._ready = bool(ready)
        if self._started.is_set():
            self._call(self._nodes["Ready"].write_value(self._ready, varianttype=ua.VariantType.Boolean))

    def write(self, record: FrameRecord) -> None:
        self._call(self._update(record))

    async def _update(self, record: FrameRecord) -> None:
        verdict = record.result.verdict.value
        ng = record.result.is_ng
        targets = [("", "")]
        if record.camera in self._counts and record.camera:
            targets.append((record.camera, f"{record.camera}."))
        for key, prefix in targets:
            counts = self._counts[key]
            counts[0] += 1
            counts[1] += int(ng)
            values: dict[str, Any] = {"LastVerdict": verdict, "LastScore": float(record.result.score),
                                      "LastFrameId": int(record.frame_id), "PartCount": counts[0],
                                      "NGCount": counts[1]}
            if not key:
                values["LastCamera"] = record.camera
            for name, value in values.items():
                await self._nodes[prefix + name].write_value(value, varianttype=_STATION_VARS[name][1])

    def close(self) -> None:
        if self._loop is None:
            return
        if self._started.is_set():
            try:
                self._call(self._shutdown(), timeout=5.0)
            except (TimeoutError, ConnectionError, OSError, RuntimeError) as exc:
                log.warning("OPC UA server did not stop cleanly: %s", exc)
        self._started.clear()
        self._stop_loop()
        log.info("OPC UA server stopped")

    async def _shutdown(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        if self._server is not None:
            await self._nodes["Ready"].write_value(False, varianttype=ua.VariantType.Boolean)
            await self._server.stop()
            self._server = None

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5.0)
        if not loop.is_running():
            loop.close()
        self._loop = None
        self._loop_thread = None
