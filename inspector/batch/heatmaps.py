"""Heatmap overlays of `inspector batch`: the image with its anomaly map, as PNGs in OUT/heatmaps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspector.atomic import atomic_write
from inspector.batch.store import HEATMAPS, inside, safe_name
from inspector.errors import InspectorError

OVERLAY_FLOOR, OVERLAY_FULL, OVERLAY_ALPHA = 0.75, 1.25, 0.6
"""The overlay colours a pixel only where its map exceeds OVERLAY_FLOOR x threshold, reaching full
colour (red, OVERLAY_ALPHA opaque) at OVERLAY_FULL x threshold: the part stays visible (as in the GUI)."""


def overlay(image: np.ndarray, amap: np.ndarray, threshold: float) -> np.ndarray:
    """RGB image + anomaly map -> BGR overlay: the image unchanged where the map is low, yellow to red
    with opacity rising with the map from OVERLAY_FLOOR x threshold up, the NG region outlined in white."""
    amap = amap.astype(np.float32)
    if amap.shape != image.shape[:2]:
        amap = cv2.resize(amap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    if threshold > 0:
        ratio = amap / threshold
    else:  # no usable threshold: the map's own range, its midpoint in the threshold's place
        lo, hi = float(amap.min()), float(amap.max())
        ratio = 2.0 * (amap - lo) / (hi - lo) if hi > lo else np.zeros_like(amap)
    level = np.clip((ratio - OVERLAY_FLOOR) / (OVERLAY_FULL - OVERLAY_FLOOR), 0.0, 1.0)
    heat = cv2.applyColorMap((160 + level * 65).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    alpha = (OVERLAY_ALPHA * level)[..., None]
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    blended = np.where(alpha > 0, np.rint(bgr * (1.0 - alpha) + heat * alpha), bgr).astype(np.uint8)
    contours, _ = cv2.findContours((amap > threshold).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(blended, contours, -1, (255, 255, 255), 1)
    return blended


def save_heatmap(out: Path, key: str, image: np.ndarray, amap: np.ndarray, threshold: float) -> str:
    """Write OUT/heatmaps/<safe name>.png; returns its path relative to OUT."""
    ok, png = cv2.imencode(".png", overlay(image, amap, threshold))
    if not ok:
        raise InspectorError(f"cannot encode the heatmap of {key}", "report this as a bug")
    name = safe_name(key)
    atomic_write(inside(out, HEATMAPS, name), png.tobytes())
    return f"{HEATMAPS}/{name}"
