"""The operator model's tests need no display and no PySide6: a real LiveStation on the demo bundle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes import DEMO

from inspector.operator.launch import single_camera_config, source_camera
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation


@pytest.fixture()
def station() -> Iterator[LiveStation]:
    """A running station (demo bundle, one slow synthetic camera, no config sinks); its counters are fed by
    the test (`stats.ingest`), not by the camera, since nothing calls `update()`."""
    config = single_camera_config(DEMO, [source_camera("synthetic", fps=2.0)], station="test-line")
    live = LiveStation(config, config_sinks=False, disk_paths=[])
    live.start().result(60)
    assert live.phase is Phase.RUNNING, live.error
    yield live
    assert live.close()
