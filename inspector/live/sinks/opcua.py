"""OPC UA sink (asyncua): a small server the PLC reads verdicts from and writes triggers to.

Address space (namespace ``urn:inspector`` unless changed; stable string NodeIds): Objects/Inspector with
Ready, Heartbeat, Alarms, AlarmActive, the last part's verdict/score/reason and counts, and one object per
camera with its writable Trigger and that camera's last part and counts; the full table and the code that
builds it are in opcua_nodes.py. With `[sinks.plc]` each camera object also holds the PLC handshake's `Plc`
object (sinks/plc_opcua.py, docs/plc.md). In a station, `Inspector.RunSelfTest` (a method) runs the golden
self-test and `Inspector.SelfTest*` show the last run (sinks/opcua_golden.py).

Design choice: one Trigger node per camera (no camera argument to pass), so a PLC maps each camera to one
Boolean. The asyncio loop of the server runs in the sink's own thread; `write()` and `set_ready()` hand work
to it from other threads.

Security (`[sinks.opcua]`, OpcUaSettings in opcua_settings.py): `security_policies` lists the endpoints
offered; a signing policy or a username needs the server's `certificate` and `private_key`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from inspector.live.handshake import VERDICT_CODES
from inspector.live.record import FrameRecord
from inspector.live.settings import secret
from inspector.live.sinks.base import Sink, SinkContext, register_sink
from inspector.live.sinks.extras import require
from inspector.live.sinks.opcua_golden import OpcUaSelfTest
from inspector.live.sinks.opcua_nodes import STATION_VARS, add_camera, add_station
from inspector.live.sinks.opcua_settings import OneUser, OpcUaSettings
from inspector.live.sinks.plc_opcua import OpcUaPlc, OpcUaRecipes
from inspector.live.sources.base import redact_url
from inspector.verdict import REASON_CODES

if TYPE_CHECKING:  # asyncua is the `opcua` extra: imported when a sink is made (_asyncua)
    from asyncua import Server
    from asyncua.common.callback import ServerItemCallback
    from asyncua.common.node import Node
    from asyncua.ua.uatypes import NodeId  # mypy does not follow asyncua.ua's star re-exports

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840/inspector/"
TriggerCallback = Callable[[str], object]  # called with a camera id; what it returns is not used


def _asyncua() -> SimpleNamespace:
    """The asyncua names the sink uses; InspectorError naming `pip install inspector[opcua]` without asyncua."""
    require("opcua")
    from asyncua import Server, ua
    from asyncua.common.callback import CallbackType

    return SimpleNamespace(Server=Server, ua=ua, CallbackType=CallbackType)


@register_sink("opcua")
class OpcUaSink(Sink):
    """Serves the station's state over OPC UA and turns PLC writes of a camera's Trigger into `on_trigger`.

    `cameras`: ids (or a callable giving them at open) that get a camera object and Trigger node.
    `ready`: polled every heartbeat to drive the Ready node (else use `set_ready`).
    `alarms`: polled every heartbeat to drive Alarms and AlarmActive (else use `set_alarms`).
    """

    Settings = OpcUaSettings

    def __init__(
        self,
        *,
        station: str = "station",
        endpoint: str = DEFAULT_ENDPOINT,
        cameras: Iterable[str] | Callable[[], Iterable[str]] = (),
        namespace: str = "urn:inspector",
        on_trigger: TriggerCallback | None = None,
        ready: Callable[[], bool] | None = None,
        heartbeat_s: float = 1.0,
        certificate: str | None = None,
        private_key: str | None = None,
        allow_unsecured: bool = True,
        security_policies: Iterable[str] | None = None,
        username: str | None = None,
        password: str | None = None,
        start_timeout: float = 30.0,
        queue_size: int = 256,
        retries: int = 3,
        retry_delay: float = 0.5,
        handshake: Callable[[], Any] | None = None,
        recipes: Callable[[], Any] | None = None,
        alarms: Callable[[], Iterable[str]] | None = None,
        golden: Callable[[], Any] | None = None,
        self_test: Callable[[], Any] | None = None,
    ) -> None:
        self._api = _asyncua()
        ua = self._api.ua
        super().__init__(queue_size=queue_size, retries=retries, retry_delay=retry_delay)
        if urlsplit(endpoint).scheme != "opc.tcp":
            raise ValueError(f"OPC UA endpoint must start with opc.tcp://, got {redact_url(endpoint)}")
        if security_policies is not None:
            policies = list(security_policies)
            allow_unsecured = "None" in policies
            self._signed = [getattr(ua.SecurityPolicyType, p) for p in policies if p != "None"]
        else:  # unsecured (if allowed) plus Basic256Sha256 when there is a certificate
            self._signed = (
                [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign]
                if certificate and private_key
                else []
            )
        if (self._signed or username or not allow_unsecured) and not (certificate and private_key):
            raise ValueError("signed endpoints, a username or allow_unsecured=false need certificate and private_key")
        if bool(username) != bool(password):
            raise ValueError("an OPC UA user needs both username and password")
        self._user = OneUser(username, password) if username and password else None
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
        self.alarms_source = alarms
        self._alarms = ""  # what the Alarms node says
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._server: Server | None = None
        self._nodes: dict[str, Node] = {}  # "Ready", "cam0.Trigger", ...
        self._trigger_ids: dict[NodeId, str] = {}
        self._counts: dict[str, list[int]] = {}  # "" (station) / camera -> [parts, ng]
        self._heartbeat_task: asyncio.Task | None = None
        self._started = threading.Event()
        self._ns = 0
        self.triggers_received = 0
        self._handshake_of = handshake  # the station's PLC handshake, looked up at open ([sinks.plc])
        self._plc: OpcUaPlc | None = None
        self._recipes_of = recipes  # the station's recipe/lot changeover, looked up at open
        self._recipes: OpcUaRecipes | None = None
        self._golden_of, self._self_test_of = golden, self_test  # Station.run_self_test and its SelfTest, at open
        self._golden: OpcUaSelfTest | None = None

    @classmethod
    def from_config(cls, settings: Any, context: SinkContext) -> OpcUaSink:
        """From `[sinks.opcua]` (OpcUaSettings) and the station's context (always the running pipeline)."""
        config: OpcUaSettings = cls.settings_of(settings)
        password = secret(config, "password")
        return cls(
            station=context.station,
            on_trigger=context.trigger,
            cameras=context.cameras,
            ready=context.ready,
            alarms=lambda: context.snapshot().alarms,
            endpoint=config.endpoint,
            namespace=config.namespace,
            heartbeat_s=config.heartbeat_s,
            security_policies=config.security_policies,
            certificate=config.certificate or None,
            private_key=config.private_key or None,
            username=config.username or None,
            password=None if password is None else password.get_secret_value(),
            handshake=lambda: context.handshake,
            recipes=lambda: context.recipes,
            golden=lambda: context.golden,
            self_test=lambda: context.self_test,
        )

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
        log.info(
            "OPC UA server listening on %s (%d camera trigger node(s))", redact_url(self.endpoint), len(self.cameras)
        )

    async def _start(self) -> None:
        ua = self._api.ua
        server = self._api.Server(user_manager=self._user)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Inspector {self.station}")
        policies = [ua.SecurityPolicyType.NoSecurity] if self._allow_unsecured else []
        if self._certificate and self._private_key:
            await server.load_certificate(self._certificate)
            await server.load_private_key(self._private_key)
        server.set_security_policy(policies + self._signed)
        if self._user is not None:  # one user, never anonymous
            server.set_identity_tokens([ua.UserNameIdentityToken])
        elif not (self._certificate and self._private_key):  # no encryption: never accept a password in clear
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        self._ns = ns = await server.register_namespace(self.namespace)
        root, nodes = await add_station(self._api, server, ns)
        self._nodes.update(nodes)
        self._counts[""] = [0, 0, 0]
        handshake = self._handshake_of() if self._handshake_of is not None else None
        self._plc = None if handshake is None else OpcUaPlc(self._api, server, ns, handshake)
        changeover = self._recipes_of() if self._recipes_of is not None else None
        self._recipes = None if changeover is None else OpcUaRecipes(self._api, server, ns, changeover)
        if self._recipes is not None:
            await self._recipes.add(root)
        run = self._golden_of() if self._golden_of is not None else None
        if run is not None:  # the on-demand golden self-test (docs/plc.md#golden-self-test)
            self_test = self._self_test_of() if self._self_test_of is not None else None
            self._golden = OpcUaSelfTest(self._api, server, ns, run, self_test)
            await self._golden.add(root)
        for cam in self.cameras:
            obj, nodes = await add_camera(self._api, root, ns, cam)
            self._nodes.update(nodes)
            self._trigger_ids[nodes[f"{cam}.Trigger"].nodeid] = cam
            self._counts[cam] = [0, 0, 0]
            if self._plc is not None:
                await self._plc.add_camera(obj, cam)
        server.subscribe_server_callback(self._api.CallbackType.PostWrite, self._on_post_write)
        await self._nodes["Ready"].write_value(self._ready, varianttype=ua.VariantType.Boolean)
        await self._write_alarms(self._alarms)
        await server.start()
        if self._plc is not None:
            self._plc.start()
        self._server = server
        self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        ua = self._api.ua
        beat = 0
        while True:
            await asyncio.sleep(self.heartbeat_s)
            beat += 1
            await self._nodes["Heartbeat"].write_value(beat, varianttype=ua.VariantType.Int64)
            if self.ready_source is not None:
                try:
                    ready = bool(self.ready_source())
                except Exception as exc:  # noqa: BLE001 (a failing probe means "not ready", never a dead heartbeat)
                    log.warning("OPC UA ready probe failed: %s", redact_url(str(exc)))
                    ready = False
                if ready != self._ready:
                    self._ready = ready
                    await self._nodes["Ready"].write_value(ready, varianttype=ua.VariantType.Boolean)
            await self._poll_alarms()
            if self._golden is not None:
                await self._golden.poll()

    async def _poll_alarms(self) -> None:
        """Alarms and AlarmActive follow `alarms` (unchanged while no pipeline is bound or the probe fails)."""
        if self.alarms_source is None:
            return
        try:
            alarms = ",".join(sorted(str(a) for a in self.alarms_source()))
        except LookupError:
            return
        except Exception as exc:  # noqa: BLE001 (a failing probe must not kill the heartbeat)
            log.warning("OPC UA alarms probe failed: %s", redact_url(str(exc)))
            return
        if alarms != self._alarms:
            await self._write_alarms(alarms)

    async def _write_alarms(self, alarms: str) -> None:
        ua = self._api.ua
        self._alarms = alarms
        await self._nodes["Alarms"].write_value(alarms, varianttype=ua.VariantType.String)
        await self._nodes["AlarmActive"].write_value(bool(alarms), varianttype=ua.VariantType.Boolean)

    async def _on_post_write(self, event: ServerItemCallback, dispatcher: object) -> None:
        """A client wrote something: a True on a camera's Trigger asks that camera for a frame."""
        ua = self._api.ua
        if not event.is_external:
            return
        statuses = event.response_params or []
        if self._plc is not None:
            await self._plc.on_write(list(event.request_params.NodesToWrite), list(statuses))
        if self._recipes is not None:
            await self._recipes.on_write(list(event.request_params.NodesToWrite), list(statuses))
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
                except Exception as exc:  # noqa: BLE001 (the PLC's write must not break the server)
                    log.error("trigger handler for camera %r failed: %s", cam, redact_url(str(exc)))
            await self._nodes[f"{cam}.Trigger"].write_value(False, varianttype=ua.VariantType.Boolean)

    def set_ready(self, ready: bool) -> None:
        """Set the Ready node (callable from any thread, before or after start)."""
        self._ready = bool(ready)
        if self._started.is_set():
            self._call(self._nodes["Ready"].write_value(self._ready, varianttype=self._api.ua.VariantType.Boolean))

    def set_alarms(self, alarms: Iterable[str]) -> None:
        """Set Alarms and AlarmActive (callable from any thread, before or after start)."""
        text = ",".join(sorted(str(a) for a in alarms))
        if self._started.is_set():
            self._call(self._write_alarms(text))
        else:
            self._alarms = text

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
            counts[2] += int(record.result.is_unsure)
            reason = record.result.reason
            values: dict[str, Any] = {
                "LastVerdict": verdict,
                "LastScore": float(record.result.score),
                "LastFrameId": int(record.frame_id),
                "PartCount": counts[0],
                "NGCount": counts[1],
                "LastResultCode": int(VERDICT_CODES[verdict]),
                "LastReason": record.result.reason_code,
                "LastReasonCode": REASON_CODES[reason] if reason is not None else 0,
                "UnsureCount": counts[2],
            }
            if not key:
                values["LastCamera"] = record.camera
            for name, value in values.items():
                await self._nodes[prefix + name].write_value(
                    value, varianttype=getattr(self._api.ua.VariantType, STATION_VARS[name][1])
                )

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
        if self._plc is not None:
            await self._plc.stop()
        if self._recipes is not None:
            self._recipes.stop()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        if self._server is not None:
            await self._nodes["Ready"].write_value(False, varianttype=self._api.ua.VariantType.Boolean)
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
