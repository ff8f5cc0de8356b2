"""Issue 11 items 13, 24 (the GUI's station, no display needed): a malformed bundle is MODEL ERROR with a
message, and a model that starts failing mid-run puts the GUI in MODEL ERROR, then back to RUNNING."""

from __future__ import annotations

from pathlib import Path

from bundle_edit import with_props
from test_camera import wait_for
from test_pipeline import synthetic_camera

from inspector.engine import Engine
from inspector.live.config import StationConfig
from inspector.live.station import build_engine
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation


def config_for(model: Path) -> StationConfig:
    return StationConfig(
        path=Path("<test>"),
        station="gui",
        model_path=model,
        threshold=None,
        provider="",
        threads=1,
        cameras=[synthetic_camera("cam1")],
        data_dir=model.parent,
    )


def test_malformed_metadata_is_model_error_with_the_field_named(tmp_path: Path, tiny_bundle_path: Path) -> None:
    bad = with_props(tiny_bundle_path, tmp_path / "bad.onnx", threshold='"high"')
    station = LiveStation(config_for(bad), config_sinks=False, disk_paths=[])
    try:
        station.start().result(30)
        assert station.phase is Phase.MODEL_ERROR and "inspector.threshold" in station.error, station.error
    finally:
        station.close()


class Breakable(Engine):
    broken = False

    def inspect(self, images, *, prepared: bool = False):
        if self.broken:
            raise ValueError("score must be finite, got nan")
        return super().inspect(images, prepared=prepared)


def test_a_model_failing_mid_run_is_model_error_and_recovers(tiny_bundle_path: Path) -> None:
    engines: list[Breakable] = []

    def factory(config: StationConfig, path: Path | None) -> Engine:
        real = build_engine(config, path)
        engines.append(Breakable(real.bundle, max_batch=real.max_batch))
        return engines[-1]

    station = LiveStation(config_for(tiny_bundle_path), config_sinks=False, engine_factory=factory, disk_paths=[])
    try:
        station.start().result(30)
        assert wait_for(lambda: station.phase is Phase.RUNNING and station.pipeline.snapshot().frames > 0, 10)
        engines[0].broken = True
        assert wait_for(lambda: (station.poll(), station.phase)[1] is Phase.MODEL_ERROR, 10), station.phase
        assert "fails on every frame" in station.error
        engines[0].broken = False
        assert wait_for(lambda: (station.poll(), station.phase)[1] is Phase.RUNNING, 10)
    finally:
        station.close()
