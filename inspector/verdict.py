"""The one place a verdict is decided: OK, NG or UNSURE (with its reason), for every front end.

The engine measures each frame on the model's input view (`measure`), takes the out-of-distribution
statistic from the model's anomaly map (`ood_statistic`) and asks `Gates.decide`. The gates come from the
bundle (`gates` metadata, calibrated by `inspector train` on the training images; training.gates) and may
be tightened, never loosened, by the station config (`[verdict]`, `Tightening`). A bundle without gates
still gets the basic frame-size check. UNSURE never passes a part: it means "a person must look"
(docs/verdicts.md holds the codes the PLC sees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import cv2
import numpy as np


class Verdict(str, Enum):
    OK = "OK"
    NG = "NG"
    UNSURE = "UNSURE"  # can't judge: the reason says why


class Reason(str, Enum):
    """Why a frame could not be judged, in the order the gates are checked (the first that fails is given)."""

    SIZE = "size"  # the frame is much smaller than, or of another shape than, the training images
    DARK = "dark"  # mean brightness below the calibrated range
    BRIGHT = "bright"  # mean brightness above the calibrated range
    EXPOSURE = "exposure"  # too many clipped (black or white) pixels
    FOCUS = "focus"  # blurred: too little fine detail for the image's contrast
    ALIGNMENT = "alignment"  # the bundle aligns parts and no part like the trained ones was found
    OUT_OF_DISTRIBUTION = "out_of_distribution"  # the whole view unlike training: wrong product, dirty lens
    NEAR_THRESHOLD = "near_threshold"  # the score lies in the station's UNSURE band around the threshold


REASON_CODES: dict[Reason, int] = {reason: number for number, reason in enumerate(Reason, start=1)}
"""The number the PLC reads for each reason (0: no reason, the part was judged). Never renumber. The result
codes themselves (OK 1, NG 2, UNSURE 3, ERROR 4, ...) are inspector.live.handshake.ResultCode."""


SIZE_FACTOR = 0.5  # a frame side below half the smallest training image's side is too small
ASPECT_FACTOR = 1.25  # an aspect ratio beyond the training range by more than this factor is another shape
BASIC_MIN_FRACTION = 0.25  # without calibration: a side below a quarter of the model input is too small


@dataclass(frozen=True)
class Quality:
    """Image-quality measures of one model input view (uint8 RGB at the model's size)."""

    brightness: float  # mean gray level, 0-255
    clipped: float  # fraction of pixels at <= 2 or >= 253 gray
    focus: float  # var(Laplacian) / (var(gray) + 1): fine detail relative to contrast (low: blurred)


def measure(view: np.ndarray) -> Quality:
    """Brightness, clipping and focus of a model input view (well under 1 ms at 256 px)."""
    gray = cv2.cvtColor(view, cv2.COLOR_RGB2GRAY)
    mean, std = cv2.meanStdDev(gray)
    _, lap_std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    clipped = np.count_nonzero(cv2.inRange(gray, 3, 252)) / gray.size
    return Quality(float(mean[0, 0]), 1.0 - clipped, float(lap_std[0, 0]) ** 2 / (float(std[0, 0]) ** 2 + 1.0))


def ood_statistic(anomaly_map: np.ndarray) -> float:
    """The median of the anomaly map (on every 4th row and column: the map is smooth): a defect raises the
    map where it is, a wrong product or a dirty lens raises all of it."""
    return float(np.median(anomaly_map[::4, ::4]))


@dataclass(frozen=True)
class Tightening:
    """The station's `[verdict]` settings: stricter bounds than the bundle's, and the UNSURE band."""

    min_brightness: float | None = None
    max_brightness: float | None = None
    max_clipped: float | None = None
    min_focus: float | None = None
    max_ood: float | None = None
    unsure_band: float = 0.0  # relative to the threshold: |score - threshold| <= band * threshold is UNSURE


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: Reason | None = None
    detail: str = ""  # the measured value against its bound, for people


@dataclass(frozen=True)
class Gates:
    """Bounds a frame must meet to be judged; None: not checked."""

    input_size: tuple[int, int]
    min_brightness: float | None = None
    max_brightness: float | None = None
    max_clipped: float | None = None
    min_focus: float | None = None
    max_ood: float | None = None
    min_frame: tuple[int, int] | None = None  # smallest (height, width) of a frame that can be judged
    aspect: tuple[float, float] | None = None  # width / height range of a frame that can be judged
    unsure_band: float = 0.0
    ignored: tuple[str, ...] = field(default=())  # station settings looser than the bundle's (no effect)

    @classmethod
    def from_bundle(cls, gates: dict[str, Any] | None, input_size: tuple[int, int]) -> Gates:
        """The bundle's calibrated gates (`inspector.gates`); without them only the basic size check."""
        height, width = input_size
        basic = (max(16, math.ceil(height * BASIC_MIN_FRACTION)), max(16, math.ceil(width * BASIC_MIN_FRACTION)))
        if not gates:
            return cls((height, width), min_frame=basic)
        brightness = gates.get("brightness") or (None, None)
        frame = gates.get("frame") or {}
        min_frame = (int(frame["min_size"][0]), int(frame["min_size"][1])) if frame.get("min_size") else basic
        aspect = (float(frame["aspect"][0]), float(frame["aspect"][1])) if frame.get("aspect") else None
        return cls(
            (height, width),
            min_brightness=brightness[0],
            max_brightness=brightness[1],
            max_clipped=gates.get("max_clipped"),
            min_focus=gates.get("min_focus"),
            max_ood=gates.get("max_ood"),
            min_frame=min_frame,
            aspect=aspect,
        )

    def tightened(self, station: Tightening | None) -> Gates:
        """These gates with the station's stricter bounds; a looser station value is named in `ignored`."""
        if station is None:
            return self
        changes: dict[str, Any] = {"unsure_band": max(0.0, station.unsure_band)}
        ignored = []
        for name, stricter in (
            ("min_brightness", max),
            ("max_brightness", min),
            ("max_clipped", min),
            ("min_focus", max),
            ("max_ood", min),
        ):
            wanted, have = getattr(station, name), getattr(self, name)
            if wanted is None:
                continue
            if have is not None and stricter(wanted, have) != wanted:
                ignored.append(f"{name} = {wanted:g} (the bundle's {have:g} is stricter)")
                continue
            changes[name] = float(wanted)
        return replace(self, ignored=tuple(ignored), **changes)

    def decide(
        self,
        score: float,
        threshold: float,
        quality: Quality | None,
        ood: float | None,
        frame_shape: tuple[int, int],
        alignment_problem: str = "",
    ) -> Decision:
        """The verdict of one frame: the first gate it fails makes it UNSURE, else OK/NG by the threshold."""
        failed = self._failed_gate(quality, ood, frame_shape, alignment_problem)
        if failed is not None:
            return Decision(Verdict.UNSURE, *failed)
        if self.unsure_band > 0 and abs(score - threshold) <= self.unsure_band * threshold:
            return Decision(
                Verdict.UNSURE,
                Reason.NEAR_THRESHOLD,
                f"score {score:.4g} within {100 * self.unsure_band:g} % of threshold {threshold:.4g}",
            )
        return Decision(Verdict.NG if score > threshold else Verdict.OK)

    def _failed_gate(
        self, quality: Quality | None, ood: float | None, frame_shape: tuple[int, int], alignment_problem: str
    ) -> tuple[Reason, str] | None:
        height, width = frame_shape[:2]
        if self.min_frame is not None and (height < self.min_frame[0] or width < self.min_frame[1]):
            smallest = f"{self.min_frame[1]}x{self.min_frame[0]}"
            return Reason.SIZE, f"frame {width}x{height} below the smallest judged {smallest}"
        if self.aspect is not None and not self.aspect[0] <= width / height <= self.aspect[1]:
            return Reason.SIZE, (
                f"frame aspect {width / height:.3g} outside the trained {self.aspect[0]:.3g}-{self.aspect[1]:.3g}"
            )
        if quality is not None:
            if self.min_brightness is not None and quality.brightness < self.min_brightness:
                return Reason.DARK, f"brightness {quality.brightness:.1f} below {self.min_brightness:.1f}"
            if self.max_brightness is not None and quality.brightness > self.max_brightness:
                return Reason.BRIGHT, f"brightness {quality.brightness:.1f} above {self.max_brightness:.1f}"
            if self.max_clipped is not None and quality.clipped > self.max_clipped:
                return Reason.EXPOSURE, (
                    f"{100 * quality.clipped:.1f} % of pixels clipped, at most {100 * self.max_clipped:.1f} %"
                )
            if self.min_focus is not None and quality.focus < self.min_focus:
                return Reason.FOCUS, f"focus {quality.focus:.3g} below {self.min_focus:.3g}"
        if alignment_problem:
            return Reason.ALIGNMENT, alignment_problem
        if ood is not None and self.max_ood is not None and ood > self.max_ood:
            return Reason.OUT_OF_DISTRIBUTION, f"anomaly map median {ood:.4g} above {self.max_ood:.4g}"
        return None

    @property
    def needs_quality(self) -> bool:
        return any(v is not None for v in (self.min_brightness, self.max_brightness, self.max_clipped, self.min_focus))
