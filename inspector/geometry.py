"""How a frame of any size becomes the model's input: the bundle's `resize` policy, applied in one place.

- `stretch`: resize to the input size, whatever the aspect ratio (chosen at training when the parts
  themselves vary in aspect ratio, so no single aspect ratio is right);
- `letterbox`: keep the aspect ratio, scale to fit and pad the rest by repeating the border pixels
  (chosen when the training images share one aspect ratio: a frame of that shape is never distorted).

Training (`training.images`) and every front end (through `Engine.prepare` and batch decoding) use
`fit_to`, so what the model saw in training is what it sees at the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.alignment import align
from inspector.bundle.schema import RESIZE_POLICIES, Resize
from inspector.imageio import resize_mask, resize_to


@dataclass(frozen=True)
class Placement:
    """Where the frame's content lies in the model input (rows top..top+height, cols left..left+width)."""

    top: int
    left: int
    height: int
    width: int


def letterbox_size(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a `shape` frame scaled to fit inside `size` with its aspect ratio kept."""
    scale = min(size[0] / shape[0], size[1] / shape[1])
    return (min(size[0], max(1, round(shape[0] * scale))), min(size[1], max(1, round(shape[1] * scale))))


def fit_to(image: np.ndarray, size: tuple[int, int], policy: Resize = "stretch") -> tuple[np.ndarray, Placement]:
    """The model input for an RGB frame, and where the frame's content lies in it."""
    height, width = size
    if policy == "stretch" or image.shape[:2] == (height, width):
        return resize_to(image, size), Placement(0, 0, height, width)
    if policy != "letterbox":
        raise ValueError(f"resize policy {policy!r} is unknown (expected one of {RESIZE_POLICIES})")
    inner = letterbox_size(image.shape[:2], size)
    scaled = resize_to(image, inner)
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    padded = cv2.copyMakeBorder(
        scaled, top, height - inner[0] - top, left, width - inner[1] - left, cv2.BORDER_REPLICATE
    )
    return padded, Placement(top, left, inner[0], inner[1])


def prepare(
    image: np.ndarray, size: tuple[int, int], policy: Resize = "stretch", alignment: dict | None = None
) -> np.ndarray:
    """The model input: `fit_to`, then the part moved into the bundle's reference pose where it aligns
    (`inspector.alignment`; raises PartNotFound when the frame holds no such part)."""
    fitted = fit_to(image, size, policy)[0]
    return fitted if not alignment else align(fitted, alignment)


def fit_mask(mask: np.ndarray, size: tuple[int, int], policy: Resize = "stretch") -> np.ndarray:
    """A defect mask (bool HxW) placed as `fit_to` places its image; padding is never defect."""
    height, width = size
    if policy == "stretch" or mask.shape == (height, width):
        return resize_mask(mask, size)
    inner = letterbox_size(mask.shape, size)
    out = np.zeros(size, bool)
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    out[top : top + inner[0], left : left + inner[1]] = resize_mask(mask, inner)
    return out
