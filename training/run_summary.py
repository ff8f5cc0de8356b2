"""`RunSummary`: the typed contents of a run folder's run.json, written by training and read by export.

run.json stays one flat JSON object (runs written before this type still load). The fields below are
what another program reads back (export, the torch model rebuild); everything else a run records for
people (method selection, history, timings) travels in `details`, written at the top level too.
Torch-free, so export and the CLI can read a summary without loading a model.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from inspector.bundle.schema import RESIZE_POLICIES, ROLES, TASKS
from inspector.errors import InspectorError

RUN_FILE = "run.json"
RETRAIN = "train the run again with this version of Inspector"


@dataclass(frozen=True)
class RunSummary:
    """What a training run fitted and how it scored (the export turns it into bundle metadata)."""

    task: str
    method: str
    backbone: str
    class_names: list[str]
    image_size: tuple[int, int]  # (height, width) of the model input
    threshold: float
    thresholds: dict[str, Any]  # every calibrated threshold; "deployed" is the one exported
    target_frr: float
    metrics: dict[str, Any]
    seed: int
    data: str  # the dataset folder, resolved
    data_layout: str
    data_fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)
    geometry: dict[str, Any] = field(default_factory=dict)  # training.geometry.Geometry.to_dict() (anomaly)
    alignment: dict[str, Any] | None = None
    gates: dict[str, Any] | None = None  # training.gates: when the runtime can judge a frame (runs before: none)
    calibration_warning: str | None = None
    role: str = "verdict"  # classify on defect types only: "typer" (inspector.bundle.schema.Role)
    # anomaly: how to rebuild the torch model (training.run.load_run)
    stages: list[int] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    channels: list[int] | None = None
    view_grid: list[int] | None = None
    grid: list[int] | None = None
    sigma: float | None = None
    block: int | None = None
    bank_size: int | None = None
    # classify: the classifier's rebuild spec (training.classify_model.rebuild_classifier)
    model: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # for people: selection, history, timings, config

    def __post_init__(self) -> None:
        where = f"{RUN_FILE} field"
        if self.task not in TASKS:
            raise InspectorError(f"{where} task {self.task!r} is unknown (expected one of {sorted(TASKS)})", RETRAIN)
        names = self.class_names
        if self.role not in ROLES:
            raise InspectorError(f"{where} role {self.role!r} is unknown (expected one of {ROLES})", RETRAIN)
        if self.role == "typer":
            if not (
                isinstance(names, list)
                and len(names) >= 2
                and "good" not in names
                and all(isinstance(n, str) and n for n in names)
            ):
                raise InspectorError(
                    f"{where} class_names {names!r} of a typer must list two or more defect types and no 'good'",
                    RETRAIN,
                )
        elif not (
            isinstance(names, list)
            and len(names) >= 2
            and names[0] == "good"
            and all(isinstance(n, str) and n for n in names)
        ):
            raise InspectorError(
                f"{where} class_names {names!r} must list 'good' first and at least one defect", RETRAIN
            )
        size = tuple(self.image_size)
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 16 for v in size):
            raise InspectorError(f"{where} image_size {self.image_size!r} must be [height, width] >= 16", RETRAIN)
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        ok = isinstance(self.threshold, (int, float)) and not isinstance(self.threshold, bool)
        if not ok or not math.isfinite(self.threshold) or self.threshold < 0:
            raise InspectorError(f"{where} threshold {self.threshold!r} must be a finite number >= 0", RETRAIN)
        object.__setattr__(self, "threshold", float(self.threshold))
        if not isinstance(self.thresholds, dict) or "deployed" not in self.thresholds:
            raise InspectorError(f"{where} thresholds must hold the 'deployed' threshold", RETRAIN)
        if not 0 < self.target_frr < 1:
            raise InspectorError(f"{where} target_frr {self.target_frr!r} must be between 0 and 1", RETRAIN)
        if self.resize not in RESIZE_POLICIES:
            raise InspectorError(
                f"{where} geometry.resize {self.resize!r} is unknown (expected one of {RESIZE_POLICIES})", RETRAIN
            )
        clash = set(self.details) & {f.name for f in fields(self)}
        if clash:
            raise InspectorError(f"{RUN_FILE} details repeat the fields {sorted(clash)}", "report this as a bug")

    @property
    def resize(self) -> str:
        """How frames are brought to the input size (runs written before input geometry always stretched)."""
        return self.geometry.get("resize", "stretch")

    def to_dict(self) -> dict[str, Any]:
        """The flat run.json object: the fields, then `details` at the top level."""
        values = asdict(self)
        details = values.pop("details")
        values["image_size"] = list(self.image_size)
        return {**values, **details}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any], name: str = RUN_FILE) -> RunSummary:
        """A summary from a run.json object; a missing field names itself and the fix."""
        if not isinstance(values, dict):
            raise InspectorError(f"{name} is not a JSON object", RETRAIN)
        known = {f.name: f for f in fields(cls) if f.name != "details"}
        for spec in known.values():
            if spec.name not in values and spec.default is MISSING and spec.default_factory is MISSING:
                raise InspectorError(f"{name}: field {spec.name!r} is missing", RETRAIN)
        try:
            return cls(
                **{k: v for k, v in values.items() if k in known},
                details={k: v for k, v in values.items() if k not in known},
            )
        except TypeError as exc:  # a field of the wrong JSON type (e.g. a number where a list belongs)
            raise InspectorError(f"{name}: {exc}", RETRAIN) from exc

    def write(self, run_dir: Path) -> Path:
        """Write run.json into `run_dir` (created if needed)."""
        from inspector.atomic import atomic_write

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        return atomic_write(run_dir / RUN_FILE, self.to_json() + "\n", durable=False)


def load_summary(run_dir: Path) -> RunSummary:
    """The summary of the run folder `run_dir`; InspectorError when it is not a readable run."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise InspectorError(
            f"{run_dir} is not a training run (no {RUN_FILE})", "pass the --out folder of `inspector train`"
        )
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectorError(f"{path} cannot be read as JSON ({exc})", RETRAIN) from exc
    return RunSummary.from_dict(values, str(path))
