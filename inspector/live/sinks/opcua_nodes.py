"""The OPC UA sink's address space (opcua.py): the node tables and the coroutines that add them to a server.

Namespace ``urn:inspector`` unless changed; every node has a stable string NodeId::

    Objects/Inspector                       ns=<i>;s=Inspector
        Ready        Boolean   read-only    model loaded and cameras up (set_ready)
        Heartbeat    Int64     read-only    +1 every second while the daemon runs (a PLC watchdog)
        Alarms       String    read-only    active alarms, comma-separated ("drift_cam0_score_up,..."; "" = none;
                                            docs/verdicts.md#drift), updated every heartbeat like Ready
        AlarmActive  Boolean   read-only    Alarms is not empty
        LastCamera   String    read-only    camera of the last inspected part
        LastVerdict  String    read-only    "OK" / "NG" / "UNSURE" of the last part (any camera)
        LastResultCode Int32   read-only    1 OK, 2 NG, 3 UNSURE (handshake.ResultCode; docs/verdicts.md)
        LastReason   String    read-only    why UNSURE ("focus", ...; "" when judged)
        LastReasonCode Int32   read-only    that reason as a number (inspector.verdict.REASON_CODES; 0 when judged)
        LastScore    Double    read-only
        LastFrameId  Int64     read-only
        PartCount    Int64     read-only    parts inspected since start (all cameras)
        NGCount      Int64     read-only
        UnsureCount  Int64     read-only    parts that could not be judged
        <camera>/                           ns=<i>;s=Inspector.<camera>   one object per camera
            Trigger      Boolean  WRITABLE  PLC writes True -> that camera grabs its next frame;
                                            the server resets it to False once taken (handshake)
            LastVerdict, LastResultCode, LastReason, LastReasonCode, LastScore, LastFrameId, PartCount,
            NGCount, UnsureCount   (that camera only)

With `[sinks.plc]` each camera object also holds the PLC handshake's `Plc` object (sinks/plc_opcua.py,
docs/plc.md): PartId, Trigger, Acknowledge, State, ResultReady and the result of that part.

`api` is the sink's asyncua namespace (opcua._asyncua): asyncua is never imported by this module itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncua import Server
    from asyncua.common.node import Node

STATION_VARS: dict[str, tuple[Any, str]] = {  # node -> (initial value, the name of its ua.VariantType)
    "Ready": (False, "Boolean"),
    "Heartbeat": (0, "Int64"),
    "LastCamera": ("", "String"),
    "LastVerdict": ("", "String"),
    "LastScore": (0.0, "Double"),
    "LastFrameId": (0, "Int64"),
    "PartCount": (0, "Int64"),
    "NGCount": (0, "Int64"),
    "LastResultCode": (0, "Int32"),
    "LastReason": ("", "String"),
    "LastReasonCode": (0, "Int32"),
    "UnsureCount": (0, "Int64"),
    "Alarms": ("", "String"),
    "AlarmActive": (False, "Boolean"),
}
CAMERA_VARS = {
    k: STATION_VARS[k]
    for k in (
        "LastVerdict",
        "LastScore",
        "LastFrameId",
        "PartCount",
        "NGCount",
        "LastResultCode",
        "LastReason",
        "LastReasonCode",
        "UnsureCount",
    )
}


async def add_station(api: SimpleNamespace, server: Server, ns: int) -> tuple[Node, dict[str, Node]]:
    """Objects/Inspector and its station variables; returns it and the nodes by name ("Ready", ...)."""
    ua = api.ua
    root = await server.nodes.objects.add_object(ua.NodeId("Inspector", ns), ua.QualifiedName("Inspector", ns))
    return root, await add_variables(ua, root, ns, "Inspector", STATION_VARS)


async def add_camera(api: SimpleNamespace, root: Node, ns: int, cam: str) -> tuple[Node, dict[str, Node]]:
    """Inspector.<cam> with its variables and writable Trigger; returns it and the nodes ("<cam>.Trigger", ...)."""
    ua = api.ua
    obj = await root.add_object(ua.NodeId(f"Inspector.{cam}", ns), ua.QualifiedName(cam, ns))
    table = {**CAMERA_VARS, "Trigger": (False, "Boolean")}
    nodes = await add_variables(ua, obj, ns, f"Inspector.{cam}", table, writable={"Trigger"})
    return obj, {f"{cam}.{name}": node for name, node in nodes.items()}


async def add_variables(
    ua: Any,
    parent: Node,
    ns: int,
    prefix: str,
    table: Mapping[str, tuple[Any, str]],
    *,
    writable: Collection[str] = (),
) -> dict[str, Node]:
    """One variable under `parent` per `table` entry (name -> (initial value, VariantType name)), NodeId
    "<prefix>.<name>"; clients may write the names in `writable`. `ua` is asyncua.ua. Returns the nodes by
    name, in table order."""
    nodes: dict[str, Node] = {}
    for name, (value, vtype) in table.items():
        node_id, browse = ua.NodeId(f"{prefix}.{name}", ns), ua.QualifiedName(name, ns)
        node = await parent.add_variable(node_id, browse, value, varianttype=getattr(ua.VariantType, vtype))
        if name in writable:
            await node.set_writable()
        nodes[name] = node
    return nodes
