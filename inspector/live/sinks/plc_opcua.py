"""The PLC handshake over OPC UA: `Inspector.<camera>.Plc.*` nodes of the OPC UA sink's server (docs/plc.md).

Writable by the PLC: `PartId` (String), `Trigger` and `Acknowledge` (Boolean; the server resets them to False
once taken). Read-only: `State`, `StateName`, `Busy`, `ResultReady`, `Pending`, `Waiting` and the head result
`ResultPartId`, `ResultJobId`, `ResultState`, `ResultName`, `ResultScore`, `DefectType`, `ErrorCode`,
`ErrorText`, `ModelId`. The server writes the result fields first, then `ResultJobId`, then the state nodes,
so one Read of them together is consistent. Views from the handshake are coalesced per camera and written by
one task in the server's loop (a PLC acknowledges every result, so each is shown until then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace
from typing import Any

from inspector.live.handshake import Handshake, LaneView
from inspector.live.sinks.opcua_nodes import add_variables

log = logging.getLogger(__name__)

WRITABLE = {"PartId": ("", "String"), "Trigger": (False, "Boolean"), "Acknowledge": (False, "Boolean")}
RESULT = {
    "ResultPartId": ("", "String"),
    "ResultState": (0, "Int32"),
    "ResultName": ("", "String"),
    "ResultScore": (0.0, "Double"),
    "DefectType": ("", "String"),
    "ErrorCode": (0, "Int32"),
    "ErrorText": ("", "String"),
    "ModelId": ("", "String"),
    "ResultRecipe": ("", "String"),
    "ResultLot": ("", "String"),
    "ResultJobId": (0, "Int64"),
}
STATE = {
    "Busy": (False, "Boolean"),
    "Pending": (0, "Int32"),
    "Waiting": (0, "Int32"),
    "State": (0, "Int32"),
    "StateName": ("Idle", "String"),
    "ResultReady": (False, "Boolean"),
}
NODES = {**WRITABLE, **RESULT, **STATE}
STATE_NAMES = {0: "Idle", 1: "Busy", 2: "ResultReady"}


def _values(view: LaneView) -> dict[str, Any]:
    result = view.result
    values: dict[str, Any] = {
        "ResultPartId": "",
        "ResultState": 0,
        "ResultName": "",
        "ResultScore": 0.0,
        "DefectType": "",
        "ErrorCode": 0,
        "ErrorText": "",
        "ModelId": "",
        "ResultRecipe": "",
        "ResultLot": "",
    }
    if result is not None:
        values.update(
            ResultPartId=result.part_id,
            ResultState=int(result.code),
            ResultName=result.code.name,
            ResultScore=float(result.score),
            DefectType=result.defect_type,
            ErrorCode=int(result.error_code),
            ErrorText=result.error_text,
            ModelId=result.model[:16],
            ResultRecipe=result.recipe,
            ResultLot=result.lot,
        )
    values["ResultJobId"] = result.job_id if result is not None else 0
    values.update(
        Busy=view.busy,
        Pending=view.pending,
        Waiting=view.waiting,
        State=int(view.state),
        StateName=STATE_NAMES[int(view.state)],
        ResultReady=result is not None,
    )
    return values


class OpcUaPlc:
    """The handshake's nodes on one asyncua server; all methods but `show` run in the server's loop."""

    def __init__(self, api: SimpleNamespace, server: Any, ns: int, handshake: Handshake) -> None:
        self._ua = api.ua
        self._server = server
        self._ns = ns
        self.handshake = handshake
        self._nodes: dict[str, Any] = {}  # "<camera>.<name>"
        self._by_id: dict[Any, tuple[str, str]] = {}  # NodeId -> (camera, name) of the writable nodes
        self._latest: dict[str, LaneView] = {}
        self._dirty = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task | None = None

    async def add_camera(self, parent: Any, camera: str) -> None:
        ua = self._ua
        obj = await parent.add_object(ua.NodeId(f"Inspector.{camera}.Plc", self._ns), ua.QualifiedName("Plc", self._ns))
        nodes = await add_variables(ua, obj, self._ns, f"Inspector.{camera}.Plc", NODES, writable=WRITABLE)
        for name, node in nodes.items():
            if name in WRITABLE:
                self._by_id[node.nodeid] = (camera, name)
            self._nodes[f"{camera}.{name}"] = node
        self._latest[camera] = self.handshake.view(camera)
        self._dirty.set()

    def start(self) -> None:
        self._task = self._loop.create_task(self._writer())
        self.handshake.subscribe(self.show)

    async def stop(self) -> None:
        self.handshake.unsubscribe(self.show)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def show(self, view: LaneView) -> None:
        """The handshake's listener (any thread, never blocks): the newest view of a camera gets written."""
        if view.camera in self._latest:
            self._loop.call_soon_threadsafe(self._mark, view)

    def _mark(self, view: LaneView) -> None:
        self._latest[view.camera] = view
        self._dirty.set()

    async def _writer(self) -> None:
        written: dict[str, dict[str, Any]] = {}
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            for camera, view in list(self._latest.items()):
                old = written.setdefault(camera, {})
                for name, value in _values(view).items():  # in NODES order: result, job id, then state
                    if old.get(name) != value:
                        await self._write(f"{camera}.{name}", name, value)
                        old[name] = value

    async def _write(self, key: str, name: str, value: Any) -> None:
        ua = self._ua
        variant = ua.Variant(value, getattr(ua.VariantType, NODES[name][1]))
        await self._server.write_attribute_value(self._nodes[key].nodeid, ua.DataValue(variant))

    def owns(self, node_id: Any) -> bool:
        return node_id in self._by_id

    async def on_write(self, items: list[Any], statuses: list[Any]) -> None:
        """A client's Write: PartId (kept), Trigger / Acknowledge True (handed to the handshake, then reset)."""
        part_ids: dict[str, str] = {}
        for i, item in enumerate(items):
            target = self._by_id.get(item.NodeId)
            if target is None or item.AttributeId != self._ua.AttributeIds.Value:
                continue
            if i < len(statuses) and not statuses[i].is_good():
                continue
            camera, name = target
            value = item.Value.Value.Value
            if name == "PartId":
                part_ids[camera] = str(value or "")
            elif bool(value) and name == "Trigger":
                part_id = part_ids.get(camera)
                if part_id is None:
                    part_id = str(await self._nodes[f"{camera}.PartId"].read_value() or "")
                self.handshake.trigger(camera, part_id)
                await self._write(f"{camera}.Trigger", "Trigger", False)
            elif bool(value) and name == "Acknowledge":
                self.handshake.acknowledge(camera)
                await self._write(f"{camera}.Acknowledge", "Acknowledge", False)


# ---------------------------------------------------------------------- recipes and lot (docs/plc.md#recipes)
CHANGE_NODES = {
    "Recipe": ("", "String"),
    "Lot": ("", "String"),
    "RecipeSelect": ("", "String"),
    "LotSelect": ("", "String"),
    "ChangeRequest": ("", "String"),
    "ChangeErrorCode": (0, "Int32"),
    "ChangeErrorText": ("", "String"),
    "ChangeId": (0, "Int64"),
}  # written in this order: ChangeId last
CHANGE_WRITABLE = {"RecipeSelect": "recipe", "LotSelect": "lot"}


class OpcUaRecipes:
    """`Inspector.Recipe`/`Lot` (running), `Inspector.RecipeSelect`/`LotSelect` (the PLC writes a name) and
    the answer `ChangeRequest`, `ChangeErrorCode`, `ChangeErrorText`, then `ChangeId` (+1 per answer)."""

    def __init__(self, api: SimpleNamespace, server: Any, ns: int, changeover: Any) -> None:
        self._ua = api.ua
        self._server = server
        self._ns = ns
        self.changeover = changeover
        self._nodes: dict[str, Any] = {}
        self._by_id: dict[Any, str] = {}
        self._loop = asyncio.get_running_loop()

    async def add(self, root: Any) -> None:
        ua = self._ua
        self._nodes = await add_variables(ua, root, self._ns, "Inspector", CHANGE_NODES, writable=CHANGE_WRITABLE)
        self._by_id = {self._nodes[name].nodeid: name for name in CHANGE_WRITABLE}
        await self._write({"Recipe": self.changeover.recipe, "Lot": self.changeover.lot})
        self.changeover.subscribe(self.show)

    def stop(self) -> None:
        self.changeover.unsubscribe(self.show)

    def show(self, outcome: Any) -> None:
        """The changeover's listener (any thread): write the answer in the server's loop."""
        values = {
            "Recipe": outcome.recipe,
            "Lot": outcome.lot,
            "ChangeRequest": outcome.requested,
            "ChangeErrorCode": int(outcome.error_code),
            "ChangeErrorText": outcome.error_text,
            "ChangeId": outcome.change_id,
        }
        asyncio.run_coroutine_threadsafe(self._write(values), self._loop)

    async def _write(self, values: dict[str, Any]) -> None:
        ua = self._ua
        for name, value in values.items():
            variant = ua.Variant(value, getattr(ua.VariantType, CHANGE_NODES[name][1]))
            await self._server.write_attribute_value(self._nodes[name].nodeid, ua.DataValue(variant))

    async def on_write(self, items: list[Any], statuses: list[Any]) -> None:
        """A client wrote RecipeSelect / LotSelect: the change runs on its own thread, the answer follows."""
        for i, item in enumerate(items):
            name = self._by_id.get(item.NodeId)
            if name is None or item.AttributeId != self._ua.AttributeIds.Value:
                continue
            if i < len(statuses) and not statuses[i].is_good():
                continue
            self.changeover.submit(CHANGE_WRITABLE[name], str(item.Value.Value.Value or ""), who="plc:opcua")
