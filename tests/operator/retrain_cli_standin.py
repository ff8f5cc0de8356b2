"""A stand-in for `inspector train` and `inspector export` in the retrain tests: a real child process that
prints what the real verbs print, writes what they write (run.json, the bundle file) and exits with their
codes, in a fraction of a second instead of minutes. `STANDIN_MODE`: ok (default), fail (train refuses the
queue, exit 2), hang (train starts a grandchild, writes both pids to `STANDIN_PIDS` and waits);
`STANDIN_ARGV`: a file each call appends its arguments to (one JSON list a line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

RUN = {
    "task": "anomaly",
    "method": "padim",
    "threshold": 1.2345,
    "thresholds": {"deployed": {"method": "conformal", "expected_frr": 0.0125, "n_calibration": 40}},
    "metrics": {"operating_points": {"deployed": {"detection_rate": 0.975, "false_reject_rate": 0.01}}},
    "reviewed": {"queue": "q", "train_good": 3, "val_defects": 1, "images": []},
}


def _train(argv: list[str], mode: str) -> int:
    out = Path(argv[argv.index("--out") + 1])
    print("loading the dataset and the review queue", flush=True)
    if mode == "fail":
        print(f"error: --add-reviewed {argv[argv.index('--add-reviewed') + 1]}: the review queue is empty")
        print("  fix: mark wrong verdicts in the GUI first")
        return 2
    if mode == "hang":
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(os.environ["STANDIN_PIDS"]).write_text(f"{os.getpid()} {grandchild.pid}")
        print("fitting", flush=True)
        time.sleep(600)
        return 0
    out.mkdir(parents=True)
    (out / "run.json").write_text(json.dumps(RUN))
    print("method padim (best validation AUROC); fit 0.1 s")
    print("added from the review queue q: 3 good part(s) to train, 1 escape(s) to val")
    print("threshold 1.2345 (conformal over 40 good images, target FRR 0.01; expected FRR 0.0125)")
    print(f"run written to {out} (report.md, metrics.json); export with: inspector export {out} --out model.onnx")
    return 0


def main(argv: list[str]) -> int:
    mode = os.environ.get("STANDIN_MODE", "ok")
    if os.environ.get("STANDIN_ARGV"):
        with open(os.environ["STANDIN_ARGV"], "a", encoding="utf-8") as log:
            log.write(json.dumps(argv) + "\n")
    if argv[0] == "train":
        return _train(argv, mode)
    bundle = Path(argv[argv.index("--out") + 1])
    bundle.write_bytes(b"a stand-in bundle")
    print(f"wrote {bundle}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
