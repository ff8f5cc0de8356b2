"""GenICam (GigE Vision / USB3 Vision) cameras through `harvesters`, imported only when this kind is opened."""

from __future__ import annotations

from typing import Any

import numpy as np

from inspector.live.settings import setting
from inspector.live.sources.base import (
    Source,
    SourceError,
    SourceSettings,
    check_frame,
    register_source,
)


class GenICamSettings(SourceSettings):
    cti: str = setting(help="the vendor's GenTL producer (`.cti`)")
    serial: str = setting("", help="camera serial number; empty = the first camera found")
    timeout_s: float = setting(2.0, help="seconds to wait for one buffer", gt=0)


@register_source("genicam")
class GenICamSource(Source):
    live = True
    Settings = GenICamSettings

    def open(self) -> None:
        try:
            from harvesters.core import Harvester  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SourceError("source kind 'genicam' needs harvesters: pip install harvesters") from exc
        self._harvester = Harvester()
        self._harvester.add_file(str(self.options["cti"]))
        self._harvester.update()
        query: dict[str, Any] = {"serial_number": self.options["serial"]} if self.options["serial"] else {}
        try:
            self._acquirer = self._harvester.create(query or 0)
        except (ValueError, IndexError) as exc:
            raise SourceError(f"{self.describe()}: camera not found ({exc})") from exc
        self._acquirer.start()

    def read(self) -> np.ndarray:
        import cv2

        with self._acquirer.fetch(timeout=float(self.options["timeout_s"])) as buffer:
            component = buffer.payload.components[0]
            data = component.data.reshape(component.height, component.width, -1).copy()
            pixel_format = str(component.data_format)
        if data.shape[2] == 1:
            code = cv2.COLOR_BAYER_RG2RGB if pixel_format.startswith("Bayer") else cv2.COLOR_GRAY2RGB
            data = cv2.cvtColor(data[:, :, 0], code)
        elif pixel_format.startswith("BGR"):
            data = data[:, :, ::-1].copy()
        return check_frame(data.astype(np.uint8, copy=False), self.describe())

    def close(self) -> None:
        acquirer, harvester = getattr(self, "_acquirer", None), getattr(self, "_harvester", None)
        if acquirer is not None:
            acquirer.stop()
            acquirer.destroy()
        if harvester is not None:
            harvester.reset()
        self._acquirer = self._harvester = None
