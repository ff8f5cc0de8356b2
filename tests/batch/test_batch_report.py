"""report.html and metrics.json: operating points first, escape and false-reject galleries, the ROC with the
deployed point, thumbnails at the image's own aspect ratio, and an overlay that leaves the part visible."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.batch.heatmaps import OVERLAY_FLOOR, overlay, save_heatmap
from inspector.batch.report import THUMB_H, write_report
from inspector.cli import main
from inspector.geometry import fit_to
from inspector.metrics import LEADING_KEYS, anomaly_metrics, confusion_at, operating_first

THRESHOLD = 0.5


def gallery(page: str, anchor: str) -> list[str]:
    """The image paths a gallery section of report.html shows, in order."""
    section = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert section, f"no {anchor} gallery"
    return [html.unescape(p) for p in re.findall(r'data-path="([^"]*)"', section.group(1))]


def thumbnails(page: str, anchor: str) -> list[np.ndarray]:
    section = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S).group(1)
    return [
        cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        for b64 in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', section)
    ]


def part(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8), (0, 0), 2)


def _run(tmp_path: Path, policy: str = "stretch") -> tuple[Path, list[dict]]:
    """A labelled run written by hand: 3 good, 5 defects, two known escapes and one known false reject;
    500x1250 (W x H) parts, overlays at a 256x256 model input, heatmaps saved for NG parts only."""
    out = tmp_path / "out"
    (out / "heatmaps").mkdir(parents=True)
    cases = [
        ("good_a", "good", 0.10),
        ("good_b", "good", 0.30),
        ("good_fr", "good", 0.70),
        ("scratch_hit", "scratch", 0.90),
        ("scratch_miss", "scratch", 0.20),
        ("spot_hit", "spot", 0.80),
        ("spot_hit2", "spot", 0.60),
        ("spot_miss", "spot", 0.40),
    ]
    rows = []
    for i, (name, label, score) in enumerate(cases):
        path = tmp_path / "in" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        image = part(1250, 500, i)
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        verdict = "NG" if score > THRESHOLD else "OK"
        row = {"path": str(path), "label": label, "score": score, "verdict": verdict, "error": "", "heatmap": None}
        if verdict == "NG":
            prepared = fit_to(image, (256, 256), policy)[0]
            amap = np.zeros((256, 256), np.float32)
            amap[100:140, 150:175] = score  # inside a letterbox's content (cols 77..178)
            row["heatmap"] = save_heatmap(out, row["path"], prepared, amap, THRESHOLD)
        rows.append(row)
    summary = {"images": len(rows), "threshold": THRESHOLD, "task": "anomaly", "resize": policy}
    labels, scores = [r["label"] for r in rows], np.array([r["score"] for r in rows])
    metrics = operating_first(anomaly_metrics(labels, scores, THRESHOLD), labels, scores, THRESHOLD)
    write_report(out, rows, summary, metrics)
    return out, rows


def test_escape_and_false_reject_galleries_list_exactly_those_images(tmp_path: Path) -> None:
    out, rows = _run(tmp_path)
    page = (out / "report.html").read_text()
    by_name = {Path(r["path"]).stem: r["path"] for r in rows}
    assert gallery(page, "escapes") == [by_name["scratch_miss"], by_name["spot_miss"]]  # lowest score first
    assert gallery(page, "false-rejects") == [by_name["good_fr"]]
    assert gallery(page, "ng") == [by_name[n] for n in ("scratch_hit", "spot_hit", "good_fr", "spot_hit2")]
    # escapes have no heatmap (verdict OK): their own image is shown instead, never a blank card
    assert len(thumbnails(page, "escapes")) == 2


def test_report_leads_with_operating_points_per_defect_type(tmp_path: Path) -> None:
    out, _ = _run(tmp_path)
    page = (out / "report.html").read_text()
    lead = page.index("What the line sees")
    assert lead < page.index("<h2>Summary</h2>") < page.index("Score histogram")
    assert "3 of 5 defects detected (60.0 %)" in page and "1 of 3 good parts rejected (33.3 %)" in page
    for text in (
        "FRR 1 %",
        "FRR 0.1 %",
        "detection: scratch",
        "detection: spot",
        "0.500 (1/2)",
        "0.667 (2/3)",
        "image AUROC",
    ):
        assert text in page[lead : page.index("<h2>Summary</h2>")], text
    assert "3 good images cannot resolve it" in page  # honest about what 3 good images can tell


def test_roc_marks_the_deployed_operating_point_on_the_curve(tmp_path: Path) -> None:
    out, rows = _run(tmp_path)
    page = (out / "report.html").read_text()
    svg = re.search(r'<svg class="roc".*?</svg>', page, re.S).group(0)
    vertices = {
        tuple(map(float, p.split(","))) for p in re.search(r'<polyline[^>]*points="([^"]*)"', svg).group(1).split()
    }
    marks = {
        m[0]: (float(m[1]), float(m[2])) for m in re.findall(r'data-point="([^"]+)" cx="([\d.]+)" cy="([\d.]+)"', svg)
    }
    assert set(marks) == {"deployed", "frr_1%", "frr_0.1%"}
    assert all(mark in vertices for mark in marks.values())  # every operating point lies on the curve
    conf = confusion_at([r["label"] != "good" for r in rows], [r["score"] for r in rows], THRESHOLD)
    side = 360 - 70
    expected = (round(50 + conf["false_reject_rate"] * side, 1), round(10 + (1 - conf["detection_rate"]) * side, 1))
    assert marks["deployed"] == expected
    assert 'fill="red"' in svg and "deployed: detection 0.600, FRR 0.333" in svg


@pytest.mark.parametrize("policy", ["stretch", "letterbox"])
def test_a_500x1250_part_keeps_its_aspect_ratio_in_the_gallery(tmp_path: Path, policy: str) -> None:
    out, _ = _run(tmp_path, policy)
    page = (out / "report.html").read_text()
    thumbs = thumbnails(page, "ng")
    assert len(thumbs) == 4
    for thumb in thumbs:
        assert thumb.shape[:2] == (THUMB_H, 80)  # 500 wide x 1250 tall, scaled to the box: 80 x 200
    sizes = re.findall(r'<img width="(\d+)" height="(\d+)"', page)
    assert sizes and all((w, h) == ("80", "200") for w, h in sizes)
    # the defect lands where it is on the part: the letterbox padding is cut off, a stretch is undone
    left, width = (77, 102) if policy == "letterbox" else (0, 256)
    red = thumbs[0][..., 2].astype(int) - thumbs[0][..., 1]
    ys, xs = np.nonzero(red > 80)
    assert abs(ys.mean() - 120 / 256 * THUMB_H) < 3 and abs(xs.mean() - (162 - left) / width * 80) < 3


def test_overlay_leaves_low_map_pixels_unchanged_and_colours_the_high_ones() -> None:
    image = part(120, 200, 3)
    amap = np.full((120, 200), 0.2 * THRESHOLD, np.float32)
    amap[:, 100:] = 0.7 * THRESHOLD  # high-ish but below the floor: still untouched
    amap[40:80, 20:60] = 2.0 * THRESHOLD  # a defect
    out = overlay(image, amap, THRESHOLD)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    low = amap < OVERLAY_FLOOR * THRESHOLD
    low_far = low.copy()
    low_far[38:82, 18:62] = False  # the NG outline is drawn on the region's edge pixels
    assert np.array_equal(out[low_far], bgr[low_far])
    inner = out[45:75, 25:55].astype(int)
    assert (inner[..., 2] - inner[..., 0]).mean() > 60  # red over the defect
    assert np.abs(out[45:75, 25:55].astype(int) - bgr[45:75, 25:55]).mean() < 150  # the part still shows through
    # an all-low map leaves the image exactly as it was (it used to turn the whole image blue)
    assert np.array_equal(overlay(image, np.zeros((30, 50), np.float32), THRESHOLD), bgr)


def test_operating_first_puts_what_the_line_sees_first() -> None:
    labels = ["good"] * 20 + ["scratch"] * 4 + ["spot"] * 3
    scores = np.concatenate([np.linspace(0, 0.45, 20), [0.9, 0.8, 0.3, 0.7], [0.6, 0.2, 0.95]])
    metrics = operating_first(anomaly_metrics(labels, scores, THRESHOLD), labels, scores, THRESHOLD)
    assert list(metrics)[: len(LEADING_KEYS)] == list(LEADING_KEYS)
    points = metrics["operating_points"]
    assert list(points) == ["deployed", "frr_1%", "frr_0.1%"]
    assert points["deployed"]["detection_rate_by_type"]["scratch"] == {"count": 4, "detected": 3, "rate": 0.75}
    assert points["deployed"]["false_reject_rate"] == 0.0
    json.dumps(metrics, allow_nan=False)


def _galleries_match_results(out: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    page = (out / "report.html").read_text()
    escapes = [
        r["path"] for r in sorted(rows, key=lambda r: r["score"]) if r["label"] != "good" and r["verdict"] == "OK"
    ]
    false_rejects = [
        r["path"] for r in sorted(rows, key=lambda r: -r["score"]) if r["label"] == "good" and r["verdict"] == "NG"
    ]
    assert gallery(page, "escapes") == escapes
    assert gallery(page, "false-rejects") == false_rejects
    assert 'data-point="deployed"' in page and "What the line sees" in page
    return escapes, false_rejects


def test_batch_run_metrics_json_and_report_agree_with_results(
    patchcore_bundle, synthetic_data: Path, tmp_path: Path
) -> None:
    _, bundle = patchcore_bundle
    out = tmp_path / "out"
    args = ["batch", str(synthetic_data), "--split", "test", "--model", str(bundle), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics)[:2] == ["operating_points", "image_auroc"]
    assert set(metrics["operating_points"]) == {"deployed", "frr_1%", "frr_0.1%"}
    _galleries_match_results(out)
    # at the median defect score half the defects escape: the gallery names exactly them
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    median = float(np.median([r["score"] for r in rows if r["label"] != "good"]))
    assert main([*args, "--overwrite", "--threshold", f"{median:.6f}"]) == 0
    escapes, _ = _galleries_match_results(out)
    assert len(escapes) >= 5
