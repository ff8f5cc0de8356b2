"""A self-contained report.html for a batch run. Where labels are known it leads with what the line sees:
the detection rate at the deployed threshold and at FRR 1 % / 0.1 %, per defect type, beside AUROC, and the
ROC with those operating points marked. Then the summary, counts, score histogram (inline SVG) with the
threshold, confusion matrix, and galleries: escapes (missed defects) and false rejects where labels are
known, and the NG gallery; thumbnails keep each image's own aspect ratio."""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template

import cv2
import numpy as np

from inspector.atomic import atomic_write
from inspector.batch.store import inside
from inspector.errors import InspectorError
from inspector.geometry import letterbox_size
from inspector.imageio import read_image, read_image_size
from inspector.metrics import operating_points, roc_curve
from inspector.typer import pareto

GALLERY_MAX = 120
THUMB_W, THUMB_H = 240, 200
"""A thumbnail is the image scaled (never stretched) to fit THUMB_W x THUMB_H."""
TEMPLATE = "report.html.tmpl"


def _page() -> Template:
    """The page around the sections (head, style): package data next to this module."""
    return Template(resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8"))


def _esc(value: object) -> str:
    return html.escape(str(value))


def histogram_svg(
    scores: np.ndarray, threshold: float, labels: list[str | None], bins: int = 40, width: int = 640, height: int = 220
) -> str:
    """Stacked score histogram (good / defect / unlabelled) with the threshold as a red line."""
    if scores.size == 0:
        return "<p>no scores</p>"
    lo = float(min(scores.min(), threshold))
    hi = float(max(scores.max(), threshold))
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    groups = {"good": "#4c9a2a", "defect": "#c0392b", "unlabelled": "#7f8c8d"}
    kind = np.array(["unlabelled" if lab is None else "good" if lab == "good" else "defect" for lab in labels])
    counts = {g: np.histogram(scores[kind == g], edges)[0] for g in groups}
    top = max(1, int(np.sum(list(counts.values()), axis=0).max()))  # the tallest stacked bar
    pad, plot_w, plot_h = 40, width - 50, height - 40
    bar_w = plot_w / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
        f'<line x1="{pad}" y1="{plot_h + 10}" x2="{pad + plot_w}" y2="{plot_h + 10}" stroke="#333"/>',
    ]
    base = np.zeros(bins)
    for group, colour in groups.items():
        for i, c in enumerate(counts[group]):
            if c:
                h = c / top * plot_h
                y = plot_h + 10 - base[i] - h
                parts.append(
                    f'<rect x="{pad + i * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{group}: {c}</title></rect>'
                )
                base[i] += h
    tx = pad + (threshold - lo) / (hi - lo) * plot_w
    parts.append(f'<line x1="{tx:.1f}" y1="5" x2="{tx:.1f}" y2="{plot_h + 10}" stroke="red" stroke-dasharray="4"/>')
    parts.append(f'<text x="{tx + 3:.1f}" y="14" fill="red">threshold {threshold:.4g}</text>')
    parts.append(f'<text x="{pad}" y="{height - 8}">{lo:.4g}</text>')
    parts.append(f'<text x="{pad + plot_w}" y="{height - 8}" text-anchor="end">{hi:.4g}</text>')
    parts.append(f'<text x="4" y="16">{top}</text>')
    legend_x = pad + 10
    for group, colour in groups.items():
        if counts[group].sum():
            parts.append(
                f'<rect x="{legend_x}" y="{height - 20}" width="10" height="10" fill="{colour}"/>'
                f'<text x="{legend_x + 14}" y="{height - 11}">{group}</text>'
            )
            legend_x += 90
    return "\n".join([*parts, "</svg>"])


def roc_svg(is_defect: np.ndarray, scores: np.ndarray, points: dict[str, dict], size: int = 360) -> str:
    """ROC (detection rate against false-reject rate) with each operating point marked, the deployed one in red."""
    fpr, tpr, _ = roc_curve(is_defect, scores)
    pad, side = 50, size - 70

    def xy(x: float, y: float) -> tuple[float, float]:
        return round(pad + x * side, 1), round(10 + (1.0 - y) * side, 1)

    vertices: list[tuple[float, float]] = []
    for x, y in zip(fpr, tpr, strict=True):
        if not vertices or xy(x, y) != vertices[-1]:
            vertices.append(xy(x, y))
    parts = [
        f'<svg class="roc" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-size="11">',
        f'<rect x="{pad}" y="10" width="{side}" height="{side}" fill="none" stroke="#333"/>',
        f'<line x1="{pad}" y1="{10 + side}" x2="{pad + side}" y2="10" stroke="#bbb" stroke-dasharray="3"/>',
        f'<polyline fill="none" stroke="#2c6fbb" stroke-width="1.5" '
        f'points="{" ".join(f"{x},{y}" for x, y in vertices)}"/>',
        f'<text x="{pad + side / 2}" y="{size - 22}" text-anchor="middle">false-reject rate (good parts NG)</text>',
        f'<text x="12" y="{10 + side / 2}" text-anchor="middle" transform="rotate(-90 12 {10 + side / 2})">'
        "detection rate (defects NG)</text>",
        f'<text x="{pad}" y="{side + 24}" text-anchor="middle">0</text>',
        f'<text x="{pad + side}" y="{side + 24}" text-anchor="middle">1</text>',
        f'<text x="{pad - 4}" y="{side + 12}" text-anchor="end">0</text>',
        f'<text x="{pad - 4}" y="16" text-anchor="end">1</text>',
    ]
    for name, point in points.items():
        if point.get("detection_rate") is None or point.get("false_reject_rate") is None:
            continue
        cx, cy = xy(point["false_reject_rate"], point["detection_rate"])
        deployed = name == "deployed"
        title = (
            f"{_point_name(name)}: threshold {point['threshold']:.4g}, detection {point['detection_rate']:.3f}, "
            f"false rejects {point['false_reject_rate']:.3f}"
        )
        parts.append(
            f'<circle class="operating-point" data-point="{_esc(name)}" cx="{cx}" cy="{cy}" '
            f'r="{5 if deployed else 3.5}" fill="{"red" if deployed else "none"}" '
            f'stroke="{"red" if deployed else "#555"}"><title>{_esc(title)}</title></circle>'
        )
        if deployed:
            anchor = "end" if cx > pad + side * 0.6 else "start"
            parts.append(
                f'<text x="{cx + (-8 if anchor == "end" else 8)}" y="{min(cy + 16, side)}" fill="red" '
                f'text-anchor="{anchor}">deployed: detection {point["detection_rate"]:.3f}, '
                f"FRR {point['false_reject_rate']:.3f}</text>"
            )
    return "\n".join([*parts, "</svg>"])


def _point_name(name: str) -> str:
    return f"FRR {name[4:-1]} %" if name.startswith("frr_") else name


def _content(heat: np.ndarray, source: tuple[int, int] | None, policy: str) -> np.ndarray:
    """The part of a model-input-sized overlay that shows the frame: the letterbox padding cut off."""
    if source is None or policy != "letterbox":
        return heat
    height, width = heat.shape[:2]
    inner = letterbox_size(source, (height, width))
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    return heat[top : top + inner[0], left : left + inner[1]]


def _source_shape(row: dict) -> tuple[int, int] | None:
    try:
        return read_image_size(Path(row["path"]))
    except (InspectorError, OSError, ValueError):
        return None


def _thumbnail(out: Path, row: dict, policy: str) -> str:
    """The row's heatmap overlay (or, without one, its image) at the image's own aspect ratio, as an <img>."""
    source = _source_shape(row)
    image = None
    if row.get("heatmap"):
        image = cv2.imread(str(inside(out, *row["heatmap"].split("/"))), cv2.IMREAD_COLOR)
        if image is not None:
            image = _content(image, source, policy)
    if image is None:
        try:
            image = cv2.cvtColor(read_image(Path(row["path"])), cv2.COLOR_RGB2BGR)
        except (InspectorError, OSError, ValueError):
            return '<div class="nothumb">image not readable</div>'
    height, width = source or image.shape[:2]
    scale = min(THUMB_W / width, THUMB_H / height, 1.0)  # the image's own aspect, never enlarged
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (image.shape[1], image.shape[0]):
        shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return '<div class="nothumb">image not encodable</div>'
    return (
        f'<img width="{size[0]}" height="{size[1]}" alt="" '
        f'src="data:image/jpeg;base64,{base64.b64encode(jpg.tobytes()).decode()}">'
    )


def _gallery(out: Path, anchor: str, title: str, rows: list[dict], policy: str, order: str, empty: str) -> str:
    shown = rows[:GALLERY_MAX]
    more = f", first {GALLERY_MAX} shown" if len(rows) > GALLERY_MAX else ""
    cards = []
    for r in shown:
        label = f"<br>label {_esc(r['label'])}" if r.get("label") else ""
        label += f"<br>UNSURE: {_esc(r['reason'])}" if r.get("reason") else ""
        cards.append(
            f'<div class="card" data-path="{_esc(r["path"])}" title="{_esc(r["path"])}">'
            f"{_thumbnail(out, r, policy)}<div>{_esc(Path(r['path']).name)}<br>score {r['score']:.4g}"
            f"{label}</div></div>"
        )
    body = '<div class="gallery">' + "".join(cards) + "</div>" if cards else f"<p>{_esc(empty)}</p>"
    return (
        f'<section id="{anchor}"><h2>{_esc(title)} ({len(rows)} parts{", " + order if rows else ""}{more})</h2>'
        f"{body}</section>"
    )


def _rate(rate: float | None, hits: int | None = None, total: int | None = None) -> str:
    if rate is None:
        return "n/a"
    return f"{rate:.3f}" + (f" ({hits}/{total})" if total else "")


def operating_section(metrics: dict, points: dict[str, dict]) -> str:
    """What the line sees: detection and false rejects at the deployed threshold and at FRR 1 % / 0.1 %,
    per defect type, beside AUROC."""
    n_good, n_defect = metrics.get("n_good") or 0, metrics.get("n_defect") or 0
    types = sorted({t for p in points.values() for t in p.get("detection_rate_by_type", {})})
    body = []
    for name, p in points.items():
        det, frr = p.get("detection_rate"), p.get("false_reject_rate")
        by_type = p.get("detection_rate_by_type", {})
        body.append(
            [
                _point_name(name),
                f"{p['threshold']:.4g}" if p.get("threshold") is not None else "n/a",
                _rate(det, round(det * n_defect) if det is not None else None, n_defect),
                _rate(frr, round(frr * n_good) if frr is not None else None, n_good),
            ]
            + [
                _rate(by_type[t]["rate"], by_type[t]["detected"], by_type[t]["count"]) if t in by_type else "n/a"
                for t in types
            ]
        )
    deployed = points.get("deployed", {})
    lines = ["<h2>What the line sees</h2>"]
    if deployed.get("detection_rate") is not None:
        det, frr = deployed["detection_rate"], deployed["false_reject_rate"]
        lines.append(
            f"<p class='lead'>At the deployed threshold {deployed['threshold']:.4g}: "
            f"<b>{round(det * n_defect)} of {n_defect} defects detected ({100 * det:.1f} %)</b>, "
            f"{round(frr * n_good)} of {n_good} good parts rejected ({100 * frr:.1f} %).</p>"
        )
    elif not n_defect:
        lines.append("<p>No defective images are labelled in this run: detection rates need some.</p>")
    elif not n_good:
        lines.append("<p>No good images are labelled in this run: false-reject rates need some.</p>")
    lines.append(
        _table(
            ["operating point", "threshold", "detection rate", "false-reject rate"]
            + [f"detection: {t}" for t in types],
            body,
        )
    )
    extra = [
        f"{name} {_fmt(metrics.get(key))}"
        for key, name in (
            ("image_auroc", "image AUROC"),
            ("average_precision", "AP"),
            ("pixel_auroc", "pixel AUROC"),
            ("aupro", "AUPRO"),
        )
        if key in metrics
    ]
    lines.append(f"<p>{_esc(', '.join(extra))}.</p>")
    notes = [
        f"{_point_name(name)}: {n_good} good images cannot resolve it (that needs at least "
        f"{round(1 / (float(name[4:-1]) / 100))}); this row is at the highest good score, observed FRR 0"
        for name in points
        if name.startswith("frr_") and n_good and n_good * float(name[4:-1]) / 100 < 1
    ]
    if notes:
        lines.append("<p class='note'>" + "<br>".join(_esc(n) for n in notes) + "</p>")
    lines.append(
        "<p class='note'>FRR rows use the threshold that gives that false-reject rate on this run's own "
        "good images (hindsight, not the deployed setting).</p>"
    )
    return "".join(lines)


def confusion(rows: list[dict], classify: bool) -> tuple[list[str], list[str], Counter]:
    """(row labels, column names, counts) of label against verdict (anomaly) or predicted class."""
    labelled = [r for r in rows if r.get("label") is not None]
    table: Counter = Counter()
    for r in labelled:
        column = "error" if r.get("error") else (r.get("predicted_class") if classify else r.get("verdict"))
        table[(r["label"], column)] += 1
    labels = sorted({r["label"] for r in labelled}, key=lambda x: (x != "good", x))
    if classify:
        columns = sorted({c for _, c in table if c != "error"}, key=lambda x: (x != "good", x))
    else:
        columns = ["OK", "NG"]
    if any(c == "error" for _, c in table):
        columns.append("error")
    return labels, columns, table


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a" if value is None else str(value)


def write_report(out: Path, rows: list[dict], summary: dict, metrics: dict | None) -> Path:
    """Write OUT/report.html; everything (plots, thumbnails) is embedded."""
    scored = [r for r in rows if r.get("score") is not None]
    errors = [r for r in rows if r.get("error")]
    threshold = float(summary["threshold"])
    classify = summary.get("task") == "classify"
    policy = summary.get("resize") or "stretch"
    counts = Counter(r.get("verdict") or "error" for r in rows)
    labelled = [r for r in scored if r.get("label") is not None]
    escapes = sorted(
        (r for r in labelled if r["label"] != "good" and r.get("verdict") == "OK"), key=lambda r: r["score"]
    )
    false_rejects = sorted(
        (r for r in labelled if r["label"] == "good" and r.get("verdict") == "NG"), key=lambda r: -r["score"]
    )
    ng = sorted((r for r in scored if r.get("verdict") == "NG"), key=lambda r: -r["score"])
    unsure = sorted(
        (r for r in scored if r.get("verdict") == "UNSURE"), key=lambda r: (str(r.get("reason")), -r["score"])
    )
    by_reason = Counter(str(r.get("reason")) for r in unsure)
    sections = ["<h1>Batch inspection report</h1>"]
    if labelled:
        labels = [str(r["label"]) for r in labelled]
        scores = np.array([r["score"] for r in labelled], np.float64)
        points = (metrics or {}).get("operating_points") or operating_points(labels, scores, threshold)
        sections.append(
            operating_section(
                metrics or {"n_good": labels.count("good"), "n_defect": len(labels) - labels.count("good")}, points
            )
        )
        is_defect = np.array([lab != "good" for lab in labels])
        if is_defect.any() and (~is_defect).any():
            sections += ["<h2>ROC</h2>", roc_svg(is_defect, scores, points)]
    else:
        sections.append(
            "<p>No labels: detection and false-reject rates need labelled images "
            "(a dataset layout or a split.csv manifest).</p>"
        )
    reviews = [("escapes", "escapes", escapes), ("false-rejects", "false rejects", false_rejects)] if labelled else []
    links = [("ng", "NG gallery", ng), ("unsure", "UNSURE gallery", unsure), *reviews]
    sections.append("<p>Galleries: " + " · ".join(f'<a href="#{a}">{t} ({len(g)})</a>' for a, t, g in links) + "</p>")
    sections += [
        "<h2>Summary</h2>",
        _table(["item", "value"], [[k, v] for k, v in summary.items() if not isinstance(v, (dict, list))]),
        "<h2>Counts</h2>",
        _table(
            ["OK", "NG", "UNSURE", "error", "total"],
            [[counts["OK"], counts["NG"], counts["UNSURE"], counts["error"], len(rows)]],
        ),
        *(
            ["<h2>UNSURE by reason (docs/verdicts.md)</h2>", _table(["reason", "parts"], by_reason.most_common())]
            if unsure
            else []
        ),
        *(
            [
                "<h2>NG by defect type (Pareto, the typer's names)</h2>",
                _table(
                    ["defect type", "NG parts", "cumulative"],
                    [[name, count, f"{share:.0%}"] for name, count, share in pareto(r.get("defect_type") for r in ng)],
                ),
            ]
            if summary.get("typer") and ng
            else []
        ),
        "<h2>Score histogram</h2>",
        histogram_svg(np.array([r["score"] for r in scored], np.float64), threshold, [r.get("label") for r in scored]),
    ]
    if any(r.get("label") is not None for r in rows):
        labels_, columns, table = confusion(rows, classify)
        sections += [
            "<h2>Confusion matrix (label × " + ("predicted class" if classify else "verdict") + ")</h2>",
            _table(["label", *columns], [[lab, *(table[(lab, c)] for c in columns)] for lab in labels_]),
        ]
    if metrics:
        flat = [[k, _fmt(v)] for k, v in metrics.items() if not isinstance(v, (dict, list))]
        sections += ["<h2>All metrics at the deployed threshold</h2>", _table(["metric", "value"], flat)]
    if labelled:
        sections += [
            _gallery(
                out,
                "escapes",
                "Escapes: defects passed as OK",
                escapes,
                policy,
                "lowest scores first",
                "No escapes: every labelled defect was NG.",
            ),
            _gallery(
                out,
                "false-rejects",
                "False rejects: good parts flagged NG",
                false_rejects,
                policy,
                "highest scores first",
                "No false rejects: every labelled good part was OK.",
            ),
        ]
    sections.append(_gallery(out, "ng", "NG gallery", ng, policy, "highest scores first", "No NG parts."))
    sections.append(
        _gallery(
            out,
            "unsure",
            "UNSURE gallery: parts that could not be judged",
            unsure,
            policy,
            "by reason",
            "No UNSURE parts.",
        )
    )
    if errors:
        sections += [
            f"<h2>Errors ({len(errors)})</h2>",
            _table(["path", "error"], [[r["path"], r["error"]] for r in errors]),
        ]
    text = _page().substitute(thumb_w=THUMB_W, body="\n".join(sections))
    path = inside(out, "report.html")  # a non-UTF-8 file name is shown with backslash escapes, as in the CSV
    atomic_write(path, text.encode("utf-8", "backslashreplace"), durable=False)  # rebuilt by any rerun
    return path
