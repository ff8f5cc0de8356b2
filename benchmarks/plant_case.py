"""Model choice without defects, checked where the answer is known: a labelled set with its validation defects
hidden, as a plant's validation split has none.

Usage: python benchmarks/plant_case.py --data ../shared/datasets/magnetic-tile [--work DIR]

Runs `inspector train` twice with the defaults: on the dataset as given (the validation defects choose the
method) and on a view of it whose split.csv leaves out the validation defects (synthetic defects drawn on the
validation goods choose). The view is a temporary folder of symbolic links beside a filtered split.csv: the
images are read where they are, never copied. Prints each run's selection rule and fit time, then one
markdown table: what each candidate scored in the judgement (the chosen one in bold) and its detection, FRR
and AUROC on the test split, so a choice made without defects can be compared with the test's verdict.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from train_memory import train_once  # one `inspector train` in a fresh process (this folder is on sys.path)


def hide_validation_defects(data: Path, view: Path) -> int:
    """A view of `data` in `view` without its validation defects; how many rows were left out."""
    view.mkdir(parents=True, exist_ok=True)
    for entry in data.iterdir():
        if entry.name != "split.csv":
            (view / entry.name).symlink_to(entry.resolve())
    with open(data / "split.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if not (r["split"] == "val" and r["label"] != "good")]
    with open(view / "split.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return len(rows) - len(kept)


def judged(selection: dict, name: str) -> str:
    """What candidate `name` scored in the judgement that chose."""
    c = selection["candidates"][name]
    if "val_detection_rate" in c:
        synthetic = c.get("synthetic_detection_rate")
        shown = f"val detection {c['val_detection_rate']:.3f}"
        return shown if synthetic is None else f"{shown}, synthetic {synthetic:.3f}"
    return f"synthetic detection {c['synthetic_detection_rate']:.3f}, AUROC {c['synthetic_auroc']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, help="folder for the view and the runs (a temporary one by default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        hidden = hide_validation_defects(args.data, work / "view")
        trained = {"as given": train_once(args.data, work / "given")}
        if hidden:
            trained[f"validation defects hidden ({hidden})"] = train_once(work / "view", work / "hidden")
        for variant, result in trained.items():
            print(f"{variant}: {result['run']['method_selection']['rule']}; fit {result['wall_s']:.1f} s wall")
        print(
            "\n| validation | candidate (chosen in bold) | judged on | test detection at its threshold | test FRR | "
            "test AUROC |\n|---|---|---|---|---|---|"
        )
        for variant, result in trained.items():
            run = result["run"]
            for name, test in run["method_comparison"].items():
                shown = f"**{name}**" if name == run["method"] else name
                print(
                    f"| {variant} | {shown} | {judged(run['method_selection'], name)} | "
                    f"{test['detection_rate']:.3f} | {test['false_reject_rate']:.4f} | {test['image_auroc']:.4f} |"
                )


if __name__ == "__main__":
    main()
