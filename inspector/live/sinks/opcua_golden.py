"""The golden self-test over OPC UA (docs/plc.md#golden-self-test): a method and the last run's nodes on `Inspector`.

    Inspector.RunSelfTest()   Method   callable   runs the running recipe's golden set through the station's own
                                                  engine (Station.run_self_test, trigger "opcua"), as the MQTT
                                                  command does; outputs Passed (Boolean) and Summary (String)
    Inspector.SelfTestPassed  Boolean  read-only  the last run passed (any trigger: start, swap, schedule, ...)
    Inspector.SelfTestSummary String   read-only  "golden self-test passed (2 samples)" or the failure
    Inspector.SelfTestTrigger String   read-only  what started it: "start", "opcua", "shift 06:00", ...
    Inspector.SelfTestTime    DateTime read-only  when it ran (UTC)
    Inspector.SelfTestBlocked Boolean  read-only  a failed run blocks the station until acknowledged
    Inspector.SelfTestId      Int64    read-only  +1 with every run shown (written last)

A failed run blocks like any other: `Inspector.Ready` false, every PLC trigger answered ERROR 111
SELF_TEST_FAILED, until `inspector golden ack`. With `[sinks.opcua] username` only that user can log in, so
only that user can call the method (as only it can write Trigger). The run takes a thread of the server's
executor, never its loop; the nodes follow `SelfTest.last` every heartbeat, whoever ran it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from inspector.live.sinks.opcua_nodes import add_variables

log = logging.getLogger("inspector.live.sinks.opcua")

NEVER = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)  # OPC UA's "no time" (DateTime 0)
NODES: dict[str, tuple[Any, str]] = {
    "SelfTestPassed": (False, "Boolean"),
    "SelfTestSummary": ("", "String"),
    "SelfTestTrigger": ("", "String"),
    "SelfTestTime": (NEVER, "DateTime"),
    "SelfTestBlocked": (False, "Boolean"),
    "SelfTestId": (0, "Int64"),
}  # written in this order: SelfTestId last
TRIGGER = "opcua"
NO_SAMPLES = "no golden samples: nothing was tested (add them with `inspector golden add`)"


def summary(outcome: Any) -> str:
    """A GoldenRun in one line: the pass with its sample count, or the failure (GoldenRun.reason)."""
    if outcome.passed:
        return f"golden self-test passed ({len(outcome.rows)} samples)"
    return str(outcome.reason())


def _when(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return NEVER


class OpcUaSelfTest:
    """`RunSelfTest` and the `SelfTest*` nodes on one asyncua server; every method runs in the server's loop."""

    def __init__(self, api: SimpleNamespace, server: Any, ns: int, run: Callable[[str], Any], self_test: Any) -> None:
        self._ua = api.ua
        self._server = server
        self._ns = ns
        self._run = run  # Station.run_self_test
        self._self_test = self_test  # inspector.live.golden.SelfTest: `last` and `blocking()`; None: method only
        self._nodes: dict[str, Any] = {}
        self._shown: Any = None  # the GoldenRun the nodes show
        self._blocked: bool | None = None
        self._id = 0
        self.calls = 0

    async def add(self, root: Any) -> None:
        ua = self._ua
        self._nodes.update(await add_variables(ua, root, self._ns, "Inspector", NODES))
        passed = ua.Argument()
        passed.Name, passed.DataType, passed.ValueRank = "Passed", ua.NodeId(ua.ObjectIds.Boolean), -1
        passed.Description = ua.LocalizedText("every golden sample judged as recorded")
        text = ua.Argument()
        text.Name, text.DataType, text.ValueRank = "Summary", ua.NodeId(ua.ObjectIds.String), -1
        text.Description = ua.LocalizedText("the outcome in words (the failing sample)")
        await root.add_method(
            ua.NodeId("Inspector.RunSelfTest", self._ns),
            ua.QualifiedName("RunSelfTest", self._ns),
            self._call,
            [],
            [passed, text],
        )
        await self.poll()

    async def _call(self, parent: Any) -> list[Any]:
        """The method: run the set on the server's executor, show the outcome, answer (Passed, Summary)."""
        ua = self._ua
        self.calls += 1
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(None, self._run, TRIGGER)
        except Exception as exc:  # noqa: BLE001 (a failing run is answered, never raised into the server)
            log.error("golden self-test over OPC UA failed to run: %s", exc)
            passed, words = False, f"golden self-test could not run ({exc})"
        else:
            passed, words = (False, NO_SAMPLES) if outcome is None else (outcome.passed, summary(outcome))
            if outcome is not None and outcome is not self._shown:  # a heartbeat may have shown it already
                await self._show(outcome)
        await self._show_blocked()
        return [ua.Variant(bool(passed), ua.VariantType.Boolean), ua.Variant(words, ua.VariantType.String)]

    async def poll(self) -> None:
        """Follow the station's last run and block (every heartbeat): a run at start or on schedule shows too."""
        if self._self_test is None:
            return
        last = self._self_test.last
        if last is not None and last is not self._shown:
            await self._show(last)
        await self._show_blocked()

    async def _show(self, outcome: Any) -> None:
        self._shown = outcome
        self._id += 1
        await self._write(
            {
                "SelfTestPassed": bool(outcome.passed),
                "SelfTestSummary": summary(outcome),
                "SelfTestTrigger": str(outcome.trigger),
                "SelfTestTime": _when(str(outcome.time)),
            }
        )
        await self._show_blocked(force=True)
        await self._write({"SelfTestId": self._id})

    async def _show_blocked(self, *, force: bool = False) -> None:
        if self._self_test is None:
            return
        blocked = bool(self._self_test.blocking())
        if force or blocked != self._blocked:
            self._blocked = blocked
            await self._write({"SelfTestBlocked": blocked})

    async def _write(self, values: dict[str, Any]) -> None:
        ua = self._ua
        for name, value in values.items():
            variant = ua.Variant(value, getattr(ua.VariantType, NODES[name][1]))
            await self._server.write_attribute_value(self._nodes[name].nodeid, ua.DataValue(variant))
