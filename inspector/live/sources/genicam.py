"""GenICam (GigE Vision / USB3 Vision) cameras through `harvesters`, imported only when this kind is opened."""

from __future__ import annotations

from typing import Any, Literal

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
    trigger_mode: Literal["", "off", "on"] = setting(
        "",
        help="the camera's TriggerMode: on = a frame per line trigger (with the camera's "
        '`trigger = "hardware"`); empty = leave the camera as it is',
    )
    exposure_us: float | None = setting(None, help="ExposureTime in microseconds; unset = leave the camera's", gt=0)
    gain_db: float | None = setting(None, help="Gain in dB; unset = leave the camera's", ge=0)


_NODES = (("trigger_mode", "TriggerMode"), ("exposure_us", "ExposureTime"), ("gain_db", "Gain"))


def to_rgb(data: np.ndarray, pixel_format: str) -> np.ndarray:
    """An HxWxC buffer of a GenICam pixel format as uint8 RGB (mono, Bayer RG, RGB, BGR, RGBa and BGRa)."""
    import cv2

    if data.shape[2] == 1:
        code = cv2.COLOR_BAYER_RG2RGB if pixel_format.startswith("Bayer") else cv2.COLOR_GRAY2RGB
        return cv2.cvtColor(np.ascontiguousarray(data[:, :, 0]), code)
    if data.shape[2] == 4:  # RGBa8 / BGRa8: the alpha channel carries nothing to judge
        data = data[:, :, :3]
    if pixel_format.startswith("BGR"):
        data = data[:, :, ::-1]
    return np.ascontiguousarray(data)


@register_source("genicam")
class GenICamSource(Source):
    live = True
    Settings = GenICamSettings

    def open(self) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError as exc:
            raise SourceError("source kind 'genicam' needs harvesters: pip install inspector[genicam]") from exc
        self._harvester = Harvester()
        self._harvester.add_file(str(self.options["cti"]))
        self._harvester.update()
        query: dict[str, Any] = {"serial_number": self.options["serial"]} if self.options["serial"] else {}
        try:
            self._acquirer = self._harvester.create(query or 0)
        except (ValueError, IndexError) as exc:
            raise SourceError(f"{self.describe()}: camera not found ({exc})") from exc
        self._apply_settings()
        self._acquirer.start()

    def _apply_settings(self) -> None:
        """Write trigger mode, exposure and gain to the camera's node map; a configured value the camera has no
        node for is refused by name rather than ignored."""
        node_map = self._acquirer.remote_device.node_map
        for key, node in _NODES:
            value = self.options.get(key)
            if value in (None, ""):
                continue
            if not hasattr(node_map, node):
                raise SourceError(
                    f"{self.describe()}: the camera has no {node} node for {key} = {value!r}: "
                    f"remove {key} from the camera's [cameras.source] or check the camera model"
                )
            getattr(node_map, node).value = value.capitalize() if key == "trigger_mode" else float(value)

    def read(self) -> np.ndarray:
        with self._acquirer.fetch(timeout=float(self.options["timeout_s"])) as buffer:
            component = buffer.payload.components[0]
            data = component.data.reshape(component.height, component.width, -1).copy()
            pixel_format = str(component.data_format)
        return check_frame(to_rgb(data, pixel_format).astype(np.uint8, copy=False), self.describe())

    def close(self) -> None:
        acquirer, harvester = getattr(self, "_acquirer", None), getattr(self, "_harvester", None)
        if acquirer is not None:
            acquirer.stop()
            acquirer.destroy()
        if harvester is not None:
            harvester.reset()
        self._acquirer = self._harvester = None
