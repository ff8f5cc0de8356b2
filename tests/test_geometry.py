"""Input geometry from the data, tiling round trip, letterbox placement, calibration and selection rules."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.geometry import fit_mask, fit_to

torch = pytest.importorskip("torch")

from training.calibration import calibrate  # noqa: E402
from training.geometry import choose_geometry, geometry_options, parse_size  # noqa: E402
from training.selection import choose  # noqa: E402
from training.synthetic_defects import KINDS, synthetic_defects  # noqa: E402
from training.tiling import Tiler  # noqa: E402


@pytest.mark.parametrize(
    "sizes, kwargs, size, resize, tiles",
    [
        ([(256, 4096)] * 5 + [(256, 3796)], {}, (256, 4096), "letterbox", 19),  # fabric strips: native tiles
        ([(1250, 500)] * 3, {}, (1248, 512), "letterbox", 18),  # tall parts
        ([(2048, 2448)], {}, (1088, 1312), "letterbox", 30),  # camera frames: capped tile count
        ([(640, 640)], {}, (640, 640), "letterbox", 9),  # PCBs with tiny defects
        ([(300, 300), (280, 310)], {}, (256, 256), "letterbox", 1),  # near the base size: one view
        (
            [(329, 272), (286, 123), (500, 600), (200, 100), (120, 300)],
            {},
            (256, 256),
            "stretch",
            1,
        ),  # aspect varies: square
        ([(256, 4096)], {"tile": "none"}, (64, 1024), "letterbox", 1),
        ([(256, 4096)], {"image_size": (128, 2048)}, (128, 2048), "letterbox", 1),
        ([(256, 4096)], {"tile": "128"}, (128, 2176), "letterbox", 20),  # small tiles: scaled to stay within 32
    ],
)
def test_geometry_from_the_data(sizes, kwargs, size, resize, tiles):
    g = choose_geometry(sizes, **kwargs)
    assert g.resize == resize
    assert g.input_size[0] % 32 == 0 and g.input_size[1] % 32 == 0
    if size is not None:
        assert g.input_size == size
    if tiles is not None:
        assert g.num_tiles == tiles
    if g.tiled:
        assert g.row_offsets[-1] + g.tile[0] == g.input_size[0] and g.col_offsets[-1] + g.tile[1] == g.input_size[1]


@pytest.mark.parametrize(
    "text, expected, error",
    [
        ("256", 256, None),
        ("256x1024", (256, 1024), None),
        (" 64 X 96 ", (64, 96), None),
        (None, None, None),
        ("250", None, "multiple of 32"),
        ("big", None, "is not a size"),
        ("16x64", None, "at least 32"),
    ],
)
def test_size_option(text, expected, error):
    if error:
        with pytest.raises(InspectorError, match=error):
            parse_size(text, "--image-size")
    else:
        assert parse_size(text, "--image-size") == expected


@pytest.mark.parametrize(
    ("sizes", "kwargs", "expected"),
    [
        ([(256, 256)] * 3, {}, [1]),  # one view at native: nothing proposed
        ([(640, 640)] * 3, {}, [9, 1]),  # the rule tiles, so the one view is measured beside it
        ([(256, 4096)] * 3, {"tile": "auto"}, [19, 1]),
        ([(640, 640)] * 3, {"tile": "none"}, [1]),  # an option decides: nothing to measure
        ([(640, 640)] * 3, {"tile": "256"}, [9]),
        ([(640, 640)] * 3, {"image_size": (640, 640)}, [1]),
    ],
)
def test_geometry_options_add_the_one_view_only_where_the_rule_tiles(sizes, kwargs, expected):
    options = geometry_options(sizes, **kwargs)
    assert [g.num_tiles for g in options] == expected
    assert options[0] == choose_geometry(sizes, **kwargs)  # the rule's choice comes first (the finer one)
    assert all(not g.tiled for g in options[1:])


def test_tiling_round_trip_returns_every_cell_at_native_size():
    g = choose_geometry([(256, 4096)])
    tiler = Tiler(g.input_size, g.tile, g.row_offsets, g.col_offsets)
    image = torch.arange(2 * 256 * 4096 * 3).reshape(2, 256, 4096, 3).remainder(251).to(torch.uint8)
    tiles = tiler.split(image)
    assert tiles.shape == (2 * g.num_tiles, 256, 256, 3)
    assert torch.equal(tiles[g.num_tiles * 0 + 1], image[1, :, :256])  # tile-major: tile 0 of image 1
    cells = []  # per tile, each cell's global (row, col) code, as a head's distances would be
    for t in range(g.num_tiles):
        r, c = g.row_offsets[t // len(g.col_offsets)] // 8, g.col_offsets[t % len(g.col_offsets)] // 8
        code = (torch.arange(32)[:, None] + r) * 1000 + (torch.arange(32)[None, :] + c)
        cells += [code, code]
    stitched = tiler.stitch(torch.stack(cells).float())
    expected = (torch.arange(32)[:, None] * 1000 + torch.arange(512)[None, :]).float()
    assert stitched.shape == (2, 32, 512)
    assert torch.equal(stitched[0], expected) and torch.equal(stitched[1], expected)


def test_letterbox_keeps_the_aspect_ratio_and_places_the_mask_alike():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, :150] = 200
    mask = np.zeros((100, 300), bool)
    mask[40:60, 140:160] = True
    out, place = fit_to(image, (128, 256), "letterbox")
    assert out.shape == (128, 256, 3)
    assert (place.height, place.width) == (85, 256)  # 100x300 scaled by 256/300, not stretched to 128
    assert place.top == (128 - 85) // 2
    placed = fit_mask(mask, (128, 256), "letterbox")
    assert not placed[: place.top].any() and placed[place.top : place.top + place.height].any()
    stretched, _ = fit_to(image, (128, 256), "stretch")
    assert stretched.shape == (128, 256, 3)


def test_calibration_warns_when_the_images_cannot_support_the_target():
    rng = np.random.default_rng(0)
    oof, val = rng.normal(size=12), rng.normal(size=8)
    tiny = calibrate(oof, val, 0.01)
    assert tiny["threshold"] == max(oof.max(), val.max())  # shipped for the achievable rate
    assert not tiny["guaranteed"]
    assert "20 good images can guarantee a false-reject rate of 4.8 %" in tiny["warning"]
    assert "add 79 more for the 1 % you asked" in tiny["warning"]
    big = calibrate(rng.normal(size=571), rng.normal(size=190), 0.01)
    assert big["guaranteed"] and "warning" not in big and big["n_calibration"] == 761
    low, high = big["expected_frr_interval90"]
    assert low < big["expected_frr"] <= 0.01 < high


def test_synthetic_defects_are_deterministic_under_the_seed_and_cover_every_kind():
    rng = np.random.default_rng(1)
    goods = [rng.integers(90, 160, (96, 128, 3), dtype=np.uint8) for _ in range(4)]
    first = synthetic_defects(goods, 20, seed=3)
    again = synthetic_defects(goods, 20, seed=3)
    other = synthetic_defects(goods, 20, seed=4)
    assert {d.kind for d in first} == set(KINDS)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    for image, mask, _, source in first:  # the mask is exactly where the image changed, from its source
        assert mask.any() and mask.mean() < 0.2 and np.array_equal(image[~mask], goods[source][~mask])


@pytest.mark.parametrize(
    "rows, expected",
    [
        (
            {
                "padim": {"val_detection_rate": 0.8, "val_auroc": 0.9, "synthetic_detection_rate": 0.1},
                "patchcore": {"val_detection_rate": 0.7, "val_auroc": 0.99, "synthetic_detection_rate": 0.9},
            },
            "padim",
        ),
        (
            {
                "padim": {"val_detection_rate": 0.8, "val_auroc": 0.9, "synthetic_detection_rate": 0.1},
                "patchcore": {"val_detection_rate": 0.8, "val_auroc": 0.9, "synthetic_detection_rate": 0.5},
            },
            "patchcore",
        ),
        (
            {
                "padim": {"synthetic_detection_rate": 0.6, "synthetic_auroc": 0.9},
                "patchcore": {"synthetic_detection_rate": 0.5, "synthetic_auroc": 0.99},
            },
            "padim",
        ),
    ],
)
def test_real_defects_decide_and_synthetic_ones_break_ties(rows, expected):
    assert choose(rows)[0] == expected


def test_tiny_validation_warns_everywhere_and_a_non_square_padim_bundle_passes_parity(tmp_path, capsys) -> None:
    """20 good images cannot support 1 %: train says so, run.json and the bundle carry it; export parity holds."""
    import json

    from export.cli import export_run
    from inspector.bundle.session import load_bundle
    from inspector.cli import main
    from inspector.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", size=(64, 128), n_train=12, n_val=8, n_test=4, n_defect=2, seed=1)
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "run"),
                "--image-size",
                "64",
                "--method",
                "padim",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "WARNING: 20 good images can guarantee a false-reject rate of 4.8 %; add 79 more" in out
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["image_size"] == [32, 96] and summary["geometry"]["resize"] == "letterbox"
    assert "add 79 more" in summary["calibration_warning"]
    assert "Calibration warning" in (tmp_path / "run" / "report.md").read_text()
    export_run(tmp_path / "run", tmp_path / "m.onnx")  # raises when onnxruntime and torch disagree
    deployed = load_bundle(tmp_path / "m.onnx").metadata.threshold_method["deployed"]
    assert "add 79 more" in deployed["warning"] and not deployed["guaranteed"]
