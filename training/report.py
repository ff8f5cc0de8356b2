"""The run's readable report: report.md with ROC, PR and score-histogram plots as PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from inspector.metrics import pr_curve, roc_curve
from training.run_summary import RunSummary
from training.samples import NOTES as SAMPLE_NOTES


def _fmt(value) -> str:
    return "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _plots(out: Path, scores: np.ndarray, labels: list[str], threshold: float) -> list[str]:
    is_defect = np.array([label != "good" for label in labels])
    written = []
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist(scores[~is_defect], bins=40, alpha=0.6, label="good", color="tab:green")
    ax.hist(scores[is_defect], bins=40, alpha=0.6, label="defect", color="tab:red")
    ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "score_histogram.png", dpi=100)
    plt.close(fig)
    written.append("score_histogram.png")
    if is_defect.any() and (~is_defect).any():
        fpr, tpr, _ = roc_curve(is_defect, scores)
        precision, recall, _ = pr_curve(is_defect, scores)
        for name, x, y, xl, yl in (
            ("roc.png", fpr, tpr, "false-positive rate", "true-positive rate"),
            ("pr.png", recall, precision, "recall", "precision"),
        ):
            fig, ax = plt.subplots(figsize=(4, 4))
            ax.plot(x, y)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            fig.tight_layout()
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
            written.append(name)
    return written


def _operating_lines(points: dict) -> list[str]:
    """What the line sees: detection and false rejects at the deployed threshold and at FRR 1 % / 0.1 %."""
    types = sorted({t for p in points.values() for t in p.get("detection_rate_by_type", {})})
    lines = [
        "| threshold | value | detection rate | false-reject rate | " + " | ".join(types) + " |",
        "|---|---|---|---|" + "---|" * len(types),
    ]
    for name, p in points.items():
        by_type = p.get("detection_rate_by_type", {})
        lines.append(
            f"| {name} | {_fmt(p['threshold'])} | {_fmt(p['detection_rate'])} | {_fmt(p['false_reject_rate'])} | "
            + " | ".join(_fmt(by_type.get(t, {}).get("rate")) for t in types)
            + " |"
        )
    return lines


def _selection_lines(selection: dict) -> list[str]:
    keys = ("val_detection_rate", "val_auroc", "synthetic_detection_rate", "synthetic_auroc", "threshold", "fit_good")
    lines = [
        f"- rule: {selection['rule']} ({selection.get('synthetic_defects', 0)} synthetic defects)",
        "",
        "| method | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, row in selection.get("candidates", {}).items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    return lines


def _setter_lines(setters: list[dict], deployed: dict) -> list[str]:
    """The good images with the highest out-of-fold scores, for review: they set the threshold."""
    k, n = deployed.get("k"), deployed.get("n_calibration")
    lines = [
        "",
        "## The good images that set the threshold",
        "",
        f"The deployed threshold is the k-th lowest of n out-of-fold good scores (k = {k}, n = {n}), so the highest "
        "ones set it. A defect "
        "labelled good among them raises the threshold for every part: look at them, and relabel or remove any "
        "that is not a good part, then train again.",
        "",
        "| image | split | out-of-fold score | at or above the threshold |",
        "|---|---|---|---|",
    ]
    for s in setters:
        above = "yes" if s["at_or_above_threshold"] else "no"
        lines.append(f"| {s['image']} | {s['split']} | {s['score']:.4f} | {above} |")
    return lines


def write_report(out: Path, summary: RunSummary, scores: np.ndarray, labels: list[str], paths: list[str]) -> None:
    m, details = summary.metrics, summary.details
    deployed = summary.thresholds["deployed"]
    lines = [f"# Training report: {summary.task} ({summary.method})", ""]
    if summary.calibration_warning:
        lines += [f"> **Calibration warning:** {summary.calibration_warning}", ""]
    if m.get("operating_points"):
        lines += [
            "## What the line sees (test split)",
            "",
            *_operating_lines(m["operating_points"]),
            "",
            f"Image AUROC {_fmt(m.get('image_auroc'))}, AP {_fmt(m.get('average_precision'))}, "
            f"pixel AUROC {_fmt(m.get('pixel_auroc'))}, AUPRO {_fmt(m.get('aupro'))}.",
            "",
        ]
    low, high = deployed.get("expected_frr_interval90", (None, None))
    n_held = deployed.get("n_held_out") or 0
    held = f" (or, for {n_held} goods the memory bound left out of the fit, by the deployed model)" if n_held else ""
    lines += [
        f"- deployed threshold {deployed['threshold']:.4f}: {deployed['method']} over {deployed['n_calibration']} "
        f"good images, each scored by a model that never saw it: out of fold{held}, for target FRR "
        f"{summary.target_frr}; expected FRR "
        f"{_fmt(deployed.get('expected_frr'))} (90 % interval {_fmt(low)} to {_fmt(high)}); the model fitted on "
        f"{summary.counts.get('fit_good', summary.counts.get('train_good'))} good images, validation goods included",
        f"- geometry: input {summary.image_size[0]}x{summary.image_size[1]}; "
        f"{details.get('geometry_rule') or summary.geometry['reason']}",
        f"- alignment: {details.get('alignment_rule', 'off')}; parts not found {details.get('parts_not_found')}",
        *(f"- memory bound: {details[key]}" for key in SAMPLE_NOTES if details.get(key)),
        f"- backbone: {summary.backbone}, stages {summary.stages}",
        f"- fit seconds (features + fit + calibration): {details.get('fit_seconds')}",
        f"- data: {summary.data} ({summary.data_layout}), fingerprint {summary.data_fingerprint[:16]}…",
        f"- counts: {summary.counts}",
        "",
        "## Method selection",
        "",
    ]
    lines += [*_selection_lines(details.get("method_selection", {"rule": "not recorded"})), "", "## Thresholds", ""]
    for name, info in summary.thresholds.items():
        lines.append(
            f"- {name}: {info['method']} threshold {info['threshold']:.4f}; test detection rate "
            f"{_fmt(info.get('test_detection_rate'))}, "
            f"test false-reject rate {_fmt(info.get('test_false_reject_rate'))}"
        )
    if details.get("threshold_setters"):
        lines += _setter_lines(details["threshold_setters"], deployed)
    if m:
        lines += ["", "## Test split at the deployed threshold", "", "| metric | value |", "|---|---|"]
        for key in (
            "image_auroc",
            "average_precision",
            "f1",
            "precision",
            "detection_rate",
            "false_reject_rate",
            "pixel_auroc",
            "aupro",
        ):
            lines.append(f"| {key} | {_fmt(m.get(key))} |")
        comparison = details.get("method_comparison") or {}
        if comparison:
            lines += [
                "",
                "## Methods compared on the test split (each at its own conformal threshold)",
                "",
                "| method | val AUROC | test image AUROC | AP | pixel AUROC | AUPRO | detection rate "
                "| false-reject rate |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for name, row in comparison.items():
                lines.append(
                    f"| {name} | {_fmt(row.get('selection', {}).get('val_auroc'))} | {_fmt(row.get('image_auroc'))} | "
                    f"{_fmt(row.get('average_precision'))} | {_fmt(row.get('pixel_auroc'))} | "
                    f"{_fmt(row.get('aupro'))} | "
                    f"{_fmt(row.get('detection_rate'))} | {_fmt(row.get('false_reject_rate'))} |"
                )
        plots = _plots(out, scores, labels, summary.threshold)
        lines += [""] + [f"![{name}]({name})" for name in plots]
    (out / "report.md").write_text("\n".join(lines) + "\n")
