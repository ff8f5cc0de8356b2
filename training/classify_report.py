"""The classify run's readable report: report.md with the confusion matrix (PNG) and training history."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.run_summary import RunSummary


def _fmt(value) -> str:
    return "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def confusion_png(path: Path, matrix: list[list[int]], class_names: list[str], title: str = "test split") -> None:
    """Counts with row-normalised colour; rows = true class, columns = predicted class."""
    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k, 1.0 + 0.6 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(m[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_classify_report(
    out: Path, summary: RunSummary, test_probs: np.ndarray, test_paths: list[str], test_labels: list[str]
) -> None:
    m, details = summary.metrics, summary.details
    cfg = details.get("config", {})
    lines = [
        f"# Training report: classify ({summary.method}, {summary.backbone})",
        "",
        f"- input {summary.image_size[0]} px; epochs run {details.get('epochs_run')} of {cfg.get('epochs')}, "
        f"best epoch {details.get('best_epoch')} (validation macro-F1); batch {cfg.get('batch_size')}; "
        f"{details.get('world_size')} process(es) on {details.get('device')}",
        f"- training time: {details.get('train_seconds')} s in the training loop, {details.get('wall_seconds')} s "
        "wall clock (loading, validation and test included)",
        f"- data: {summary.data} ({summary.data_layout}), fingerprint {summary.data_fingerprint[:16]}…",
        f"- counts: {summary.counts}; classes: {', '.join(summary.class_names)}",
        f"- augmentation: {details.get('augment_file')}; class balance: {cfg.get('balance')}",
        "",
        "## Threshold",
        "",
    ]
    t = summary.thresholds["deployed"]
    if summary.role == "typer":
        lines.append(
            "- none: a typer (defect types only, no good class) never decides OK/NG; chain it after a "
            "verdict model (`[model] typer`, `inspector batch --typer`)"
        )
    else:
        lines.append(
            f"- deployed: conformal on validation good scores (score = 1 - P(good)), target FRR "
            f"{summary.target_frr}: {t['threshold']:.4f}; test detection rate "
            f"{_fmt(t.get('test_detection_rate'))}, test false-reject rate {_fmt(t.get('test_false_reject_rate'))}"
        )
    if m:
        lines += ["", "## Test split", "", "| metric | value |", "|---|---|"]
        for key in ("accuracy", "macro_f1", "image_auroc", "detection_rate", "false_reject_rate"):
            lines.append(f"| {key} | {_fmt(m.get(key))} |")
        lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, row in m["per_class"].items():
            lines.append(
                f"| {name} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} | {row['support']} |"
            )
        confusion_png(Path(out) / "confusion_matrix.png", m["confusion_matrix"], summary.class_names)
        lines += ["", "![confusion matrix](confusion_matrix.png)"]
        names = summary.class_names
        wrong = [
            (path, label, names[int(row.argmax())], float(row.max()))
            for path, label, row in zip(test_paths, test_labels, test_probs, strict=True)
            if names[int(row.argmax())] != label
        ]
        lines += ["", f"## Misclassified test images ({len(wrong)})", ""]
        if wrong:
            lines += ["| image | true | predicted | P(predicted) |", "|---|---|---|---|"]
            lines += [
                f"| {Path(path).name} | {label} | {pred} | {prob:.3f} |" for path, label, pred, prob in wrong[:50]
            ]
    lines += [
        "",
        "## History",
        "",
        "| epoch | train loss | val accuracy | val macro-F1 | val loss | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in details.get("history", []):
        lines.append(
            f"| {row['epoch']} | {row['train_loss']} | {_fmt(row['val_accuracy'])} | "
            f"{_fmt(row['val_macro_f1'])} | {row['val_loss']} | {row['seconds']} |"
        )
    (Path(out) / "report.md").write_text("\n".join(lines) + "\n")
