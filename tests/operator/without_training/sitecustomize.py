"""On PYTHONPATH, makes this Python one without the training extra: the packages named in `BLOCK_IMPORTS`
(default torch, torchvision, timm) cannot be imported, as on an edge station installed without
`inspector[train]`. The retrain tests run the real `inspector train` with it."""

from __future__ import annotations

import os
import sys

BLOCKED = {name.strip() for name in os.environ.get("BLOCK_IMPORTS", "torch,torchvision,timm").split(",") if name}


class NotInstalled:
    """A meta path finder that answers "not installed" for the blocked top-level packages."""

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled)
