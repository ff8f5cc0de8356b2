"""Locate and align a part before the model: moment (principal-axis) registration to a reference pose.

The part is the largest connected region on the foreground side of an Otsu threshold. Its centroid
and principal axis (from image moments; the 180 degree ambiguity resolved by the third moment along
the axis) are moved onto the reference pose that training measured, so position-sensitive methods
(PaDiM) see every part in part coordinates. A frame whose part is missing, cut by the frame edge or of
a size the training parts never had gets `PartNotFound`, never a guess.

The reference travels in the bundle (`alignment` metadata); no front end knows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


class PartNotFound(ValueError):
    """No part like the trained ones in the frame: it cannot be judged."""


@dataclass(frozen=True)
class Pose:
    cy: float  # centroid, as a fraction of the frame's height and width
    cx: float
    angle: float  # principal axis, degrees in (-180, 180]
    area: float  # part area as a fraction of the frame
    touches_edge: bool


def _foreground(gray: np.ndarray, polarity: str) -> np.ndarray:
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    mode = cv2.THRESH_BINARY if polarity == "bright" else cv2.THRESH_BINARY_INV
    _, mask = cv2.threshold(blurred, 0, 255, mode + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return np.zeros_like(mask, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def measure(image: np.ndarray, polarity: str) -> Pose | None:
    """The part's pose in an RGB frame, or None where nothing stands out from the background."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    part = _foreground(gray, polarity)
    area = float(part.mean())
    if area == 0.0:
        return None
    m = cv2.moments(part.astype(np.uint8), binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    theta = 0.5 * math.atan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    ys, xs = np.nonzero(part)
    along = (xs - cx) * math.cos(theta) + (ys - cy) * math.sin(theta)
    if float(np.mean(along**3)) < 0:  # point the axis towards the part's heavier tail
        theta += math.pi
    h, w = part.shape
    edge = bool(part[0].any() or part[-1].any() or part[:, 0].any() or part[:, -1].any())
    angle = math.degrees(math.atan2(math.sin(theta), math.cos(theta)))
    return Pose(cy / h, cx / w, angle, area, edge)


def transform(image: np.ndarray, reference: dict) -> np.ndarray:
    """The 2x3 affine matrix that moves the part of `image` into the reference pose; PartNotFound where none."""
    pose = measure(image, reference["polarity"])
    low, high = reference["area"]
    if pose is None or not low <= pose.area <= high:
        found = "nothing" if pose is None else f"a region of {100 * pose.area:.1f} % of the frame"
        raise PartNotFound(
            f"part not found: {found} where the trained parts cover "
            f"{100 * low:.1f}-{100 * high:.1f} % (wrong product, empty station or lighting?)"
        )
    h, w = image.shape[:2]
    turn = reference["angle"] - pose.angle
    matrix = cv2.getRotationMatrix2D((pose.cx * w, pose.cy * h), -turn, 1.0)
    matrix[0, 2] += (reference["cx"] - pose.cx) * w
    matrix[1, 2] += (reference["cy"] - pose.cy) * h
    return matrix


def warp(image: np.ndarray, matrix: np.ndarray, *, mask: bool = False) -> np.ndarray:
    """Apply `transform`'s matrix to an image (or, with `mask`, to a bool defect mask)."""
    h, w = image.shape[:2]
    if mask:
        return cv2.warpAffine(image.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align(image: np.ndarray, reference: dict) -> np.ndarray:
    """`image` moved so that its part lies in the reference pose; PartNotFound where it cannot be."""
    return warp(image, transform(image, reference))
