"""`python -m training ...` runs the train verb, so `torchrun --nproc-per-node 2 -m training --task classify ...`
trains with DDP (one process per rank; rank 0 writes the run)."""

from __future__ import annotations

import sys

from inspector.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
