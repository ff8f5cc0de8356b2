"""The model bundle: one self-describing ONNX file, and the only reader and writer of its metadata.

- `schema`: `BundleMetadata` (the `inspector.*` metadata_props), value checks, `upgrade()` of older versions;
- `verify`: checksum sidecar, `read_verified` (where every bundle's bytes are trusted), structure checks;
- `session`: `load_bundle` -> `Bundle` with its onnxruntime session, providers, session options;
- `write`: `write_metadata` into an ONNX model and `save_bundle` (file, sidecar, reload check).

The schema's names are re-exported here; the session and writer are imported from their modules.
"""

from inspector.bundle.schema import (
    INPUT_NAME,
    PRECISIONS,
    PREFIX,
    RESIZE_POLICIES,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMAS,
    TASKS,
    BundleMetadata,
    check_threshold,
    outputs_for,
    upgrade,
    validate_values,
)

__all__ = [
    "INPUT_NAME",
    "PRECISIONS",
    "PREFIX",
    "RESIZE_POLICIES",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMAS",
    "TASKS",
    "BundleMetadata",
    "check_threshold",
    "outputs_for",
    "upgrade",
    "validate_values",
]
