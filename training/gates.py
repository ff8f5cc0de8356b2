"""Calibrate the verdict gates (inspector.verdict) from a run's images: what the bundle's `gates` hold.

- image quality, from the training good images' model input views (what the model saw): brightness range
  with a margin, the largest clipped fraction plus a margin, half the lowest focus;
- frame size, from the training images' own sizes: half the smallest side, the aspect-ratio range widened
  by `ASPECT_FACTOR`;
- out of distribution (anomaly bundles), from the anomaly maps of held-out images: the map's median
  (`ood_statistic`) rises where a defect is and over the whole view when the product, the lens or the
  lighting is not the trained one. The bound lies `OOD_MARGINS` times the gap between the good parts'
  highest median and the threshold above that median, and above every defect's median (validation and
  synthetic defects) by `DEFECT_FACTOR`, so no defect seen in calibration would be called UNSURE.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inspector.verdict import ASPECT_FACTOR, SIZE_FACTOR, measure, ood_statistic

BRIGHTNESS_MARGIN = 40.0  # gray levels, at least, beyond the training range
CLIPPED_MARGIN = 0.05  # fraction of pixels beyond the most clipped training image
FOCUS_FACTOR = 0.5  # a view with less than half the least sharp training image's focus is blurred
OOD_MARGINS = 3.0
DEFECT_FACTOR = 1.25


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def image_gates(views: Sequence[np.ndarray], frame_sizes: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """The quality and frame-size part of the bundle's `gates` from training good views (uint8 RGB at the
    input size, as the model saw them) and the training images' own (height, width); {} without images."""
    if not len(views):
        return {}
    quality = [measure(view) for view in views]
    brightness = np.array([q.brightness for q in quality])
    clipped = np.array([q.clipped for q in quality])
    focus = np.array([q.focus for q in quality])
    low, high = float(brightness.min()), float(brightness.max())
    margin = max(BRIGHTNESS_MARGIN, high - low)
    gates: dict[str, Any] = {
        "version": 1,
        "brightness": [_round(max(0.0, low - margin)), _round(min(255.0, high + margin))],
        "max_clipped": _round(min(1.0, float(clipped.max()) + CLIPPED_MARGIN)),
        "min_focus": _round(FOCUS_FACTOR * float(focus.min())),
        "calibration": {
            "images": len(views),
            "brightness": [_round(low), _round(high)],
            "clipped_max": _round(float(clipped.max())),
            "focus_min": _round(float(focus.min())),
        },
    }
    if frame_sizes:
        heights = np.array([h for h, _ in frame_sizes], float)
        widths = np.array([w for _, w in frame_sizes], float)
        aspects = widths / heights
        gates["frame"] = {
            "min_size": [max(16, int(SIZE_FACTOR * heights.min())), max(16, int(SIZE_FACTOR * widths.min()))],
            "aspect": [_round(float(aspects.min()) / ASPECT_FACTOR), _round(float(aspects.max()) * ASPECT_FACTOR)],
        }
    return gates


def with_ood_gate(
    gates: dict[str, Any], threshold: float, good_maps: Sequence[np.ndarray], defect_maps: Sequence[np.ndarray] = ()
) -> dict[str, Any]:
    """`gates` plus the out-of-distribution bound from held-out good (and defect) anomaly maps."""
    if not len(good_maps):
        return gates
    good = np.array([ood_statistic(m) for m in good_maps])
    defects = np.array([ood_statistic(m) for m in defect_maps]) if len(defect_maps) else np.zeros(0)
    top = float(good.max())
    bound = top + OOD_MARGINS * max(threshold - top, float(np.ptp(good)), 1e-6 * max(1.0, abs(top)))
    if defects.size:
        bound = max(bound, DEFECT_FACTOR * float(defects.max()))
    calibration = {
        **gates.get("calibration", {}),
        "ood_good_max": _round(top),
        "ood_good_images": int(good.size),
        "ood_defect_max": _round(float(defects.max())) if defects.size else None,
    }
    return {**gates, "max_ood": _round(bound), "ood_statistic": "anomaly_map_median", "calibration": calibration}
