"""The GenICam source against a real software GenTL producer: `genicam`'s Viky producer (PyPI) through harvesters.

Viky serves 400x400 RGBa8 frames and has no TriggerMode, ExposureTime or Gain nodes, so applying those
settings is checked as a clear refusal here; a plant checks them on its own camera (docs/cameras.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspector.live.sources.base import SourceError, create_source
from inspector.live.sources.genicam import to_rgb

genicam = pytest.importorskip("genicam", reason="the genicam extra (pip install inspector[genicam]) is not installed")
pytest.importorskip("harvesters", reason="the genicam extra (pip install inspector[genicam]) is not installed")
VIKY = Path(genicam.__file__).parent / "viky.cti"


def source(**options):
    return create_source("genicam", {"cti": str(VIKY), **options})


@pytest.mark.parametrize(
    ("channels", "pixel_format", "expected"),
    [
        (1, "Mono8", (9, 9, 9)),
        (3, "RGB8", (1, 2, 3)),
        (3, "BGR8", (3, 2, 1)),
        (4, "RGBa8", (1, 2, 3)),
        (4, "BGRa8", (3, 2, 1)),
    ],
)
def test_pixel_formats_become_rgb(channels: int, pixel_format: str, expected: tuple[int, int, int]) -> None:
    values = [9] if channels == 1 else [1, 2, 3, 255][:channels]
    data = np.tile(np.array(values, np.uint8), (4, 6, 1))
    rgb = to_rgb(data, pixel_format)
    assert rgb.shape == (4, 6, 3) and rgb.flags.c_contiguous and tuple(rgb[0, 0]) == expected


def test_reads_rgb_frames_from_a_software_gentl_producer() -> None:
    if not VIKY.exists():
        pytest.skip(f"{VIKY} is not in this genicam wheel")
    cam = source()
    cam.open()
    try:
        frames = [cam.read() for _ in range(3)]
    finally:
        cam.close()
    for frame in frames:
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.shape[0] >= 16


def test_a_setting_the_camera_has_no_node_for_is_refused_by_name() -> None:
    if not VIKY.exists():
        pytest.skip(f"{VIKY} is not in this genicam wheel")
    cam = source(exposure_us=5000.0)
    with pytest.raises(SourceError, match="no ExposureTime node for exposure_us"):
        try:
            cam.open()
        finally:
            cam.close()
