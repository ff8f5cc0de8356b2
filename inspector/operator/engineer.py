"""The engineer panel's model (no Qt): the candidate threshold and its what-if preview, the ROI line, the
camera-settings fields and the change they make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspector.live.config import CameraConfig
from inspector.live.sources import SOURCES
from inspector.threshold import override_warning

if TYPE_CHECKING:
    from inspector.operator.config_save import SavedSettings
    from inspector.operator.station import LiveStation

STEPS = 1000  # slider positions over the threshold range


def threshold_warning(station: LiveStation, threshold: float | None = None) -> str:
    """The calibration warning for `threshold` (default: the running one) on the running bundle ("" if none)."""
    engine = station.engine
    if engine is None:
        return ""
    meta = engine.bundle.metadata
    return override_warning(engine.threshold if threshold is None else threshold, meta.threshold, meta.threshold_method)


class ThresholdCandidate:
    """The threshold the engineer is about to apply: it opens at the running one and then moves only by the
    user's hand (a new running threshold, or the panel opening again, resets it)."""

    def __init__(self, station: LiveStation, steps: int = STEPS) -> None:
        self.station = station
        self.steps = steps
        self.value: float | None = None  # the candidate
        self._running: float | None = None  # the running threshold the candidate was last reset to

    def follow(self, opened: bool) -> None:
        """Start from the running threshold when it changed, when the panel just opened, or at first."""
        running = self.station.threshold
        if running is not None and (opened or running != self._running or self.value is None):
            self._running = self.value = running

    def current(self) -> float:
        """The candidate (the running threshold until the user moved it)."""
        return self.value if self.value is not None else (self.station.threshold or 0.0)

    def set(self, threshold: float) -> None:
        """Make `threshold` the candidate (as if the user had moved the slider there)."""
        self.value = threshold

    def applied(self, threshold: float) -> None:
        """`threshold` runs now: it is the candidate and the running value the candidate follows."""
        self._running = self.value = threshold

    def range(self) -> tuple[float, float]:
        """The slider's scale: 0 to a bit above twice the running threshold, the candidate and recent scores."""
        current = self.station.threshold or 1.0
        top = max([current * 2.0, self.value or 0.0, *self.station.stats.recent_scores]) * 1.05
        return 0.0, top

    def position(self) -> int | None:
        """The slider position of the candidate on the current scale (None: no candidate yet)."""
        if self.value is None:
            return None
        low, high = self.range()
        return round(self.steps * (self.value - low) / (high - low))

    def move_to(self, position: int) -> None:
        """The user moved the slider to `position`: the candidate follows the handle."""
        low, high = self.range()
        self.value = low + (high - low) * position / self.steps

    def preview(self) -> str:
        """What the candidate would have changed among the recent parts, in plain words ("" without a model)."""
        running = self.station.threshold
        if running is None:
            return ""
        to_ng, to_ok = self.station.stats.would_change(self.current(), running)
        n = len(self.station.stats.recent_scores)
        return f"Of the last {n} parts, {to_ng} OK would become NG and {to_ok} NG would become OK."

    def far_warning(self) -> str:
        """The warning when the candidate is far from the bundle's calibration, as a sentence ("" if none)."""
        far = threshold_warning(self.station, self.current())
        return f"\u26a0 {far[0].upper()}{far[1:]}." if far else ""


def roi_text(station: LiveStation, saved: SavedSettings, cam: str) -> str:
    """The ROI line of camera `cam`: its ROI, TEMPORARY when the station config holds another, and the
    calibration warning when the model was calibrated on other geometry."""
    cfg = station.cameras[cam]
    text = f"roi = {list(cfg.roi)}" if cfg.roi else "Whole frame inspected."
    if cfg.roi != saved.rois.get(cam):
        text += "  (TEMPORARY until restart: see Station config below)"
    warning = station.roi_warning(cam, cfg.roi)
    return f"{text}\n{warning}" if warning else text


@dataclass(frozen=True)
class CameraField:
    """One editable camera setting: `max_fps` or `source.<name>` of the camera's source kind."""

    name: str
    value: Any
    help: str

    @property
    def label(self) -> str:
        return self.name.removeprefix("source.")


def camera_fields(cfg: CameraConfig) -> list[CameraField]:
    """The settings an engineer may change on camera `cfg`: max_fps, then its source kind's own settings."""
    fields = [CameraField("max_fps", cfg.max_fps, "inspect at most this many frames per second")]
    for name, spec in SOURCES[cfg.kind].Settings.model_fields.items():
        fields.append(CameraField(f"source.{name}", cfg.source.get(name), spec.description or ""))
    return fields


def camera_changes(values: dict[str, Any]) -> dict[str, Any]:
    """`LiveStation.update_camera` keywords from field values by name (`source.x` goes into `source`)."""
    changes: dict[str, Any] = {"source": {}}
    for name, value in values.items():
        if name.startswith("source."):
            changes["source"][name.removeprefix("source.")] = value
        else:
            changes[name] = value
    return changes
