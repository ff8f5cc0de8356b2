"""A self-contained report.html for a batch run: summary, counts, score histogram (inline SVG) with the
threshold, NG gallery (heatmaps as embedded thumbnails), metrics and confusion matrix where labels are known."""

from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from inspector.batch_io import inside

GALLERY_MAX = 120
THUMB = 160


def _esc(value: object) -> str:
    return html.escape(str(value))


def histogram_svg(scores: np.ndarray, threshold: float, labels: list[str | None], bins: int = 40,
                  width: int = 640, height: int = 220) -> str:
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
    top = max(1, int(sum(counts.values()).max()))
    pad, plot_w, plot_h = 40, width - 50, height - 40
    bar_w = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
             f'<line x1="{pad}" y1="{plot_h + 10}" x2="{pad + plot_w}" y2="{plot_h + 10}" stroke="#333"/>']
    base = np.zeros(bins)
    for group, colour in groups.items():
        for i, c in enumerate(counts[group]):
            if c:
                h = c / top * plot_h
                y = plot_h + 10 - base[i] - h
                parts.append(f'<rect x="{pad + i * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                             f'fill="{colour}"><title>{group}: {c}</title></rect>')
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
            parts.append(f'<rect x="{legend_x}" y="{height - 20}" width="10" height="10" fill="{colour}"/>'
                         f'<text x="{legend_x + 14}" y="{height - 11}">{group}</text>')
            legend_x += 90
    return "\n".join(parts + ["</svg>"])


def _thumbnail(out: Path, rel: str | None) -> str:
    if not rel:
        return ""
    path = inside(out, *rel.split("/"))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return ""
    scale = THUMB / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(jpg.tobytes()).decode()}">' if ok else ""


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


def _table(header: list[str], body: list[list[object]]) -> str:
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
    counts = Counter(r.get("verdict") or "error" for r in rows)
    sections = ["<h1>Batch inspection report</h1>",
                _table(["item", "value"], [[k, v] for k, v in summary.items() if not isinstance(v, (dict, list))]),
                "<h2>Counts</h2>", _table(["OK", "NG", "error", "total"],
                                          [[counts["OK"], counts["NG"], counts["error"], len(rows)]]),
                "<h2>Score histogram</h2>",
                histogram_svg(np.array([r["score"] for r in scored], np.float64), threshold,
                              [r.get("label") for r in scored])]
    if any(r.get("label") is not None for r in rows):
        labels, columns, table = confusion(rows, classify)
        sections += ["<h2>Confusion matrix (label × " + ("predicted class" if classify else "verdict") + ")</h2>",
                     _table(["label"] + columns, [[lab] + [table[(lab, c)] for c in columns] for lab in labels])]
    if metrics:
        flat = [[k, _fmt(v)] for k, v in metrics.items() if not isinstance(v, (dict, list))]
        sections += ["<h2>Metrics</h2>", _table(["metric", "value"], flat)]
        by_type = metrics.get("detection_rate_by_type") or {}
        if by_type:
            sections.append(_table(["defect type", "count", "detected", "rate"],
                                   [[k, v["count"], v["detected"], _fmt(v["rate"])] for k, v in by_type.items()]))
    ng = sorted((r for r in scored if r.get("verdict") == "NG"), key=lambda r: -r["score"])
    sections.append(f"<h2>NG gallery ({len(ng)} parts{', highest scores first, first %d shown' % GALLERY_MAX if len(ng) > GALLERY_MAX else ''})</h2>")
    cards = []
    for r in ng[:GALLERY_MAX]:
        label = f"<br>label {_esc(r['label'])}" if r.get("label") else ""
        cards.append(f'<div class="card" title="{_esc(r["path"])}">{_thumbnail(out, r.get("heatmap"))}'
                     f"<div>{_esc(Path(r['path']).name)}<br>score {r['score']:.4g}{label}</div></div>")
    sections.append('<div class="gallery">' + "".join(cards) + "</div>")
    if errors:
        sections += [f"<h2>Errors ({len(errors)})</h2>", _table(["path", "error"], [[r["path"], r["error"]] for r in errors])]
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.gallery{display:flex;flex-wrap:wrap}"
             ".card{margin:4px;font-size:11px;width:" + str(THUMB + 4) + "px;word-break:break-all}")
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>Inspector batch report</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>")
    path = inside(out, "report.html")
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
