"""`[sinks.plc]`: the PLC handshake (inspector.live.handshake) of the station, fed by the pipeline's records.

Configuring it turns the OPC UA and MQTT sinks of the same station into its transports (docs/plc.md): the
OPC UA server gets `Inspector.<camera>.Plc.*` nodes, the MQTT sink `<prefix>/<station>/<camera>/plc/*` topics.
Its worker receives every record (a verdict for a part) and a ticker thread runs the deadlines and heartbeat.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from inspector.live.handshake import Handshake
from inspector.live.record import FrameRecord
from inspector.live.settings import setting
from inspector.live.sinks.base import Sink, SinkContext, SinkSettings, register_sink

log = logging.getLogger(__name__)


class PlcSettings(SinkSettings):
    """`[sinks.plc]`: the handshake's deadline, queue bound and heartbeat."""

    result_timeout_s: float = setting(
        2.0, gt=0, help="a part without a verdict this long after its trigger gets a TIMEOUT result (error 102)"
    )
    max_pending: int = setting(
        4,
        ge=0,
        le=1000,
        help="parts a camera may hold waiting behind the one being "
        "inspected; a trigger beyond that gets BUSY (error 103)",
    )
    heartbeat_s: float = setting(1.0, gt=0, help="seconds between MQTT `plc/heartbeat` messages")
    tick_s: float = setting(0.01, gt=0, le=1, help="how often deadlines are checked")


@register_sink("plc")
class PlcSink(Sink):
    """Feeds records to the handshake and runs its `poll` on a ticker thread while the sink runs."""

    Settings = PlcSettings

    def __init__(self, handshake: Handshake, *, tick_s: float = 0.01, queue_size: int = 4096) -> None:
        super().__init__(queue_size=queue_size, retries=0)
        self.handshake = handshake
        self.tick_s = float(tick_s)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @classmethod
    def from_config(cls, settings: Any, context: SinkContext) -> PlcSink:
        """The handshake is put on `context.handshake`, where the OPC UA and MQTT sinks find it at open."""
        config: PlcSettings = cls.settings_of(settings)

        def hardware(camera: str) -> bool:
            pipeline = context.pipeline
            cam = None if pipeline is None else pipeline.cameras.get(camera)
            return cam is not None and getattr(cam.config, "trigger", "") == "hardware"

        handshake = Handshake(
            release=context.trigger,
            cameras=context.cameras,
            hardware=hardware,
            result_timeout_s=config.result_timeout_s,
            max_pending=config.max_pending,
            heartbeat_s=config.heartbeat_s,
        )
        context.handshake = handshake
        return cls(handshake, tick_s=config.tick_s)

    def open(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="plc-deadlines", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.handshake.poll()
            except Exception as exc:  # noqa: BLE001 (the deadline thread must outlive any bug in one poll)
                log.error("plc: deadline check failed: %s", exc)

    def write(self, record: FrameRecord) -> None:
        self.handshake.complete(record)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2.0)
            self._ticker = None
