"""A station config from `inspector gui --model BUNDLE --source SRC` (no TOML file): one model, given cameras."""

from __future__ import annotations

from pathlib import Path

from inspector.errors import InspectorError
from inspector.live.config import SCHEMA_VERSION, CameraConfig, ModelSettings, StationConfig, StorageSettings


def source_camera(
    source: str, *, fps: float = 10.0, size: int = 128, cam_id: str = "cam1", seed: int = 0
) -> CameraConfig:
    """One camera from a --source string: synthetic, a device index, a URL, a folder or a video file."""
    if source == "synthetic":
        settings = {"fps": fps, "size": size, "ng_rate": 0.2, "seed": seed, "style": "brushed"}
        # the source paces the line; max_fps above it so that timer jitter never skips a part
        return CameraConfig(id=cam_id, kind="synthetic", source=settings, max_fps=max(2 * fps, 1.0))
    if source.isdigit():
        return CameraConfig(id=cam_id, kind="device", source={"index": int(source)})
    if "://" in source:
        return CameraConfig(id=cam_id, kind="url", source={"url": source})
    path = Path(source).expanduser()
    if path.is_dir():
        return CameraConfig(id=cam_id, kind="folder", source={"path": str(path.resolve()), "fps": fps, "loop": True})
    if path.is_file():
        return CameraConfig(id=cam_id, kind="video", source={"path": str(path.resolve()), "loop": True, "fps": 0.0})
    raise InspectorError(
        f"--source {source!r} is not a synthetic line, a device index, a URL, a folder or a file",
        "use --source synthetic, 0, rtsp://..., a folder of images or a video file",
    )


def single_camera_config(
    model: Path, cameras: list[CameraConfig], *, station: str = "line", threshold: float | None = None
) -> StationConfig:
    """A station of one model and the given cameras, without a TOML file (no sinks)."""
    return StationConfig(
        path=Path("<command line>"),
        schema_version=SCHEMA_VERSION,
        station=station,
        model=ModelSettings(path=model.expanduser().resolve(), threshold=threshold),
        cameras=cameras,
        storage=StorageSettings(data_dir=Path.cwd()),
    )
