"""Whether to align parts before the model, and the reference pose, from the training images.

Alignment is chosen when it can help and can be trusted: the part stands out from the background
in at least 95 % of the training images (one region, clear of the frame edge, 2-90 % of the frame),
and the parts move (centroid spread over 3 % of the frame, or principal axis spread over 5 degrees).
The reference is the median centroid and the circular mean axis; frames whose part covers an area
outside 0.7x the smallest to 1.3x the largest training part are refused at run time as "part not found".
"""

from __future__ import annotations

import math

import numpy as np

from inspector.alignment import PartNotFound, measure, transform, warp

MIN_FOUND = 0.95
MOVES_CENTRE = 0.03
MOVES_ANGLE = 5.0


def _circular(angles: np.ndarray) -> tuple[float, float]:
    """Circular mean and standard deviation (degrees)."""
    rad = np.radians(angles)
    c, s = np.cos(rad).mean(), np.sin(rad).mean()
    r = min(1.0, math.hypot(c, s))
    return math.degrees(math.atan2(s, c)), math.degrees(math.sqrt(max(0.0, -2 * math.log(max(r, 1e-12)))))


def choose_alignment(images: list[np.ndarray]) -> tuple[dict | None, str]:
    """The reference pose for `inspector.alignment.align` (or None) and why."""
    if not images:
        return None, "no images"
    areas = np.array([p.area if (p := measure(im, "bright")) else 0.0 for im in images[:50]])
    polarity = "bright" if np.median(areas) < 0.5 else "dark"
    poses = [measure(im, polarity) for im in images]
    good = [p for p in poses if p is not None and not p.touches_edge and 0.02 <= p.area <= 0.9]
    found = len(good) / len(images)
    if found < MIN_FOUND:
        return None, f"off: the part stands out from the background in {100 * found:.0f} % of the training images"
    cy, cx = np.array([p.cy for p in good]), np.array([p.cx for p in good])
    angle, angle_spread = _circular(np.array([p.angle for p in good]))
    centre_spread = float(max(cy.std(), cx.std()))
    if centre_spread < MOVES_CENTRE and angle_spread < MOVES_ANGLE:
        return None, (
            f"off: the parts do not move (centroid spread {100 * centre_spread:.1f} %, "
            f"axis spread {angle_spread:.1f} degrees)"
        )
    area = [p.area for p in good]
    reference = {
        "method": "moments",
        "polarity": polarity,
        "cx": float(np.median(cx)),
        "cy": float(np.median(cy)),
        "angle": angle,
        "area": [0.7 * min(area), min(1.0, 1.3 * max(area))],
    }
    return reference, (
        f"on: parts move (centroid spread {100 * centre_spread:.1f} %, axis spread "
        f"{angle_spread:.1f} degrees); moment alignment to the median pose"
    )


def align_all(images: list[np.ndarray], masks: list | None, reference: dict | None) -> tuple[list, list | None, int]:
    """Images (and masks) moved into the reference pose; parts not found stay as they are and are counted."""
    if reference is None:
        return images, masks, 0
    out, out_masks, missing = [], [] if masks is not None else None, 0
    for i, image in enumerate(images):
        try:
            matrix = transform(image, reference)
        except PartNotFound:
            missing += 1
            out.append(image)
            if out_masks is not None:
                out_masks.append(masks[i])
            continue
        out.append(warp(image, matrix))
        if out_masks is not None:
            out_masks.append(None if masks[i] is None else warp(masks[i], matrix, mask=True))
    return out, out_masks, missing
