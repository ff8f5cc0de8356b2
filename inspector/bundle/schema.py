"""The bundle schema: what a bundle says about itself, as `inspector.*` ONNX metadata_props.

The schema (docs/model-bundle.md) is the single contract between training/export and the
edge runtime: preprocessing, threshold and provenance travel inside the file. `upgrade()`
reads every older schema version as the current one.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal, get_args, get_type_hints

from inspector.errors import BundleError

SCHEMA_VERSION = 2
SUPPORTED_SCHEMAS = frozenset({1, 2})
Task = Literal["anomaly", "classify"]
Resize = Literal["stretch", "letterbox"]  # applied by inspector.geometry
Role = Literal["verdict", "typer"]  # a typer (classify, defect types only) names the type of an NG part, never OK/NG
Precision = Literal["fp32", "fp16", "int8"]  # of the feature extractor (export/quantize.py); the head stays fp32
RESIZE_POLICIES: tuple[Resize, ...] = get_args(Resize)
ALIGNMENT_KEYS = frozenset({"method", "polarity", "cx", "cy", "angle", "area"})
PREFIX = "inspector."
TASKS: frozenset[Task] = frozenset(get_args(Task))
INPUT_NAME = "image"
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
ROLES: tuple[Role, ...] = get_args(Role)


def outputs_for(task: str) -> tuple[str, ...]:
    """Output names, in order, that a bundle of `task` must have."""
    return ("score", "anomaly_map", "probs") if task == "classify" else ("score", "anomaly_map")


@dataclass(frozen=True)
class BundleMetadata:
    """What a bundle says about itself (stored as `inspector.*` metadata_props)."""

    task: Task
    class_names: list[str]
    input_size: tuple[int, int]  # (height, width) the graph takes
    threshold: float
    threshold_method: dict[str, Any]
    backbone: str
    method: str
    data_fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    package_version: str = ""
    color_order: str = "RGB"
    resize: Resize = "stretch"
    geometry: dict[str, Any] = field(default_factory=dict)  # how training chose the input (tiles run inside the graph)
    alignment: dict[str, Any] | None = None  # reference pose the runtime moves each part into (inspector.alignment)
    precision: Precision = "fp32"  # optional in schema 2: bundles that do not say it are fp32
    gates: dict[str, Any] | None = None  # optional in schema 2: when a frame can be judged (inspector.verdict)
    role: Role = "verdict"  # optional in schema 2: "typer" = defect types only, chained after a verdict model
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BundleError(f"bundle task {self.task!r} is unknown", f"use one of {sorted(TASKS)}")
        if len(self.input_size) != 2 or min(self.input_size) < 16:
            raise BundleError(f"bundle input_size {self.input_size} is invalid", "re-export the model")
        if self.color_order != "RGB":
            raise BundleError(f"bundle colour order {self.color_order!r} is not supported", "re-export as RGB")
        if self.alignment is not None and not (
            isinstance(self.alignment, dict) and set(self.alignment) >= ALIGNMENT_KEYS
        ):
            raise BundleError(
                f"bundle alignment {self.alignment!r} lacks {sorted(ALIGNMENT_KEYS)}", "re-export the model"
            )
        if self.precision not in PRECISIONS:
            raise BundleError(
                f"bundle precision {self.precision!r} is unknown (expected one of {PRECISIONS})",
                "upgrade Inspector on this machine or re-export the model with this version",
            )
        if self.role not in ROLES:
            raise BundleError(
                f"bundle role {self.role!r} is unknown (expected one of {ROLES})",
                "upgrade Inspector on this machine or re-export the model with this version",
            )
        if self.role == "typer" and (self.task != "classify" or "good" in self.class_names):
            raise BundleError(
                f"a typer bundle must be task classify without a 'good' class (task {self.task!r}, "
                f"classes {self.class_names})",
                "re-export the model",
            )
        if self.resize not in RESIZE_POLICIES:
            raise BundleError(
                f"bundle resize policy {self.resize!r} is unknown (expected one of {RESIZE_POLICIES})",
                "upgrade Inspector on this machine or re-export the model with this version",
            )

    def to_props(self) -> dict[str, str]:
        """Serialise to ONNX metadata_props (string values; JSON for structures)."""
        props = {}
        for key, value in asdict(self).items():
            props[PREFIX + key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return props

    @property
    def is_typer(self) -> bool:
        """A typer's score is never a verdict: it only names the defect type of parts another model found NG."""
        return self.role == "typer"

    @classmethod
    def from_props(cls, props: dict[str, str], name: str = "bundle") -> BundleMetadata:
        version = props.get(PREFIX + "schema_version")
        if version is None:
            raise BundleError(
                f"{name}: no {PREFIX}schema_version in the model metadata: not an Inspector bundle",
                "export the model with `inspector export RUN --out model.onnx`",
            )
        try:
            version_number = int(json.loads(version))
        except (ValueError, TypeError) as exc:
            raise BundleError(f"{name}: schema_version {version!r} is not a number", "re-export the model") from exc
        if version_number not in SUPPORTED_SCHEMAS:
            raise BundleError(
                f"{name}: bundle schema version {version_number} is unknown to this runtime "
                f"(supports {sorted(SUPPORTED_SCHEMAS)})",
                "upgrade Inspector on this machine or re-export the model with this version",
            )
        props = upgrade(props, version_number)
        values: dict[str, Any] = {}
        hints = get_type_hints(cls)
        for spec in fields(cls):
            raw = props.get(PREFIX + spec.name)
            if raw is None:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    raise BundleError(f"{name}: metadata field {PREFIX}{spec.name} is missing", "re-export the model")
                continue
            values[spec.name] = raw if _is_text(hints[spec.name]) else _parse_json(raw, spec.name, name)
        validate_values(values, name)
        values["input_size"] = tuple(values["input_size"])
        values["threshold"] = float(values["threshold"])
        return cls(**values)


def _is_text(hint: Any) -> bool:
    """Whether a field is stored as the plain string (str, or a Literal of strings) rather than as JSON."""
    return hint is str or (bool(get_args(hint)) and all(isinstance(arg, str) for arg in get_args(hint)))


def check_threshold(value: Any, where: str, fix: str) -> float:
    """A threshold must be a finite number >= 0 (scores are distances or 1 - P(good)); InspectorError otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not ok:
        raise BundleError(
            f"{where}: threshold {value!r} is not a finite number >= 0 "
            "(a negative one makes every part NG, NaN makes every frame an error)",
            fix,
        )
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# the JSON type (and range) each metadata value must have; a bundle breaking one is refused on load
_VALUE_CHECKS: dict[str, tuple[str, Any]] = {
    "task": ("one of " + ", ".join(sorted(TASKS)), lambda v: v in TASKS),
    "class_names": (
        "a list of at least two names, 'good' first (a typer: defect types only)",
        lambda v: isinstance(v, list) and len(v) >= 2 and all(isinstance(c, str) and c for c in v),
    ),
    "input_size": (
        "[height, width], two whole numbers from 16 to 8192",
        lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) and 16 <= x <= 8192 for x in v),
    ),
    "threshold_method": ("a JSON object", lambda v: isinstance(v, dict)),
    "metrics": ("a JSON object", lambda v: isinstance(v, dict)),
    "schema_version": ("a whole number", _is_int),
    "gates": ("null or an object of gate bounds (docs/model-bundle.md: gates)", lambda v: v is None or _gates_ok(v)),
}

GATE_NUMBERS = ("min_focus", "max_clipped", "max_ood")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and v[0] <= v[1]


def _gates_ok(gates: Any) -> bool:
    """The `gates` object: optional numbers, [low, high] brightness, frame min_size and aspect; anything else in
    `calibration` (for people)."""
    if not isinstance(gates, dict):
        return False
    frame = gates.get("frame", {})
    return (
        all(gates.get(k) is None or _number(gates[k]) for k in GATE_NUMBERS)
        and (gates.get("brightness") is None or _pair(gates["brightness"]))
        and isinstance(frame, dict)
        and (
            frame.get("min_size") is None
            or (
                isinstance(frame["min_size"], list)
                and len(frame["min_size"]) == 2
                and all(_is_int(x) and x > 0 for x in frame["min_size"])
            )
        )
        and (frame.get("aspect") is None or (_pair(frame["aspect"]) and frame["aspect"][0] > 0))
    )


def validate_values(values: dict[str, Any], name: str) -> None:
    """Refuse metadata whose values have the wrong type or range (a checksum only proves the file is whole)."""
    fix = "re-export the model with `inspector export`; bundles must follow docs/model-bundle.md"
    for key, (expected, ok) in _VALUE_CHECKS.items():
        if key in values and not ok(values[key]):
            raise BundleError(f"{name}: metadata field {PREFIX}{key} is {values[key]!r}, expected {expected}", fix)
    names, typer = values.get("class_names"), values.get("role") == "typer"
    if isinstance(names, list) and names and (("good" in names) if typer else names[0] != "good"):
        expected = "defect types only, no 'good' (role typer)" if typer else "'good' first"
        raise BundleError(f"{name}: metadata field {PREFIX}class_names is {names!r}, expected {expected}", fix)
    if "threshold" in values:
        check_threshold(values["threshold"], f"{name}: metadata field {PREFIX}threshold", fix)


def upgrade(props: dict[str, str], version: int) -> dict[str, str]:
    """Metadata of an older schema version as the current one reads it (one step per version)."""
    props = dict(props)
    if version < 2:  # v1 bundles always stretched frames to a square input and never tiled
        props.setdefault(PREFIX + "resize", "stretch")
        props.setdefault(PREFIX + "geometry", "{}")
        props[PREFIX + "schema_version"] = "2"
    return props


def _parse_json(raw: str, key: str, name: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name}: metadata field {PREFIX}{key} is not valid JSON", "re-export the model") from exc
