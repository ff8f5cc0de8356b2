"""The station builder: one wiring for the daemon and the GUI, and sinks that follow the running pipeline
through camera-setting restarts and model swaps (real engine, real threads, real HTTP sink on 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from conftest_services import free_port, wait_until
from test_http import parse_prometheus

from inspector.engine import Engine
from inspector.live.config import load_config
from inspector.live.http import HttpSink
from inspector.live.station import build_station
from inspector.operator.state import Phase
from inspector.operator.station import LiveStation

pytestmark = pytest.mark.timeout(60)


def write_config(folder: Path, model: Path, *, trigger: str = "free", sinks: str = "") -> Path:
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "restart"
[model]
path = "{model}"
[[cameras]]
id = "cam1"
trigger = "{trigger}"
[cameras.source]
kind = "synthetic"
fps = 20
size = 64
{sinks}
''')
    return path


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    except OSError as exc:  # the server is between stop and start during a restart
        return 0, str(exc)
    finally:
        conn.close()


def frames_metric(port: int) -> float | None:
    status, text = get(port, "/metrics")
    if status != 200:
        return None
    return parse_prometheus(text).get(("inspector_frames_total", frozenset({("camera", "cam1")})))


def test_gui_camera_change_keeps_readyz_and_metrics_on_the_running_pipeline(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    port = free_port()
    config = load_config(write_config(tmp_path, tiny_bundle_path, sinks=f"[sinks.http]\nport = {port}\n"))
    station = LiveStation(config, disk_paths=[])
    station.start()
    try:
        assert wait_until(lambda: station.phase is Phase.RUNNING and station.pipeline.snapshot().frames >= 2, 20)
        assert [type(s) for s in station.sinks][1:] == [HttpSink]  # the GUI's own sink, then the config's
        assert wait_until(lambda: get(port, "/readyz")[0] == 200, 10)
        old = station.pipeline
        station.update_camera("cam1", source={"fps": 10.0}).result(15)  # what the engineer panel's Apply does
        assert station.pipeline is not old and station.pipeline.cameras["cam1"].config.source["fps"] == 10.0
        assert not old.ready()  # the stopped pipeline: what /readyz answered for before the builder
        assert wait_until(lambda: get(port, "/readyz")[0] == 200, 10), get(port, "/readyz")
        assert json.loads(get(port, "/readyz")[1]) == {"ready": True, "reasons": []}
        first = frames_metric(port)
        assert first is not None
        assert wait_until(lambda: (frames_metric(port) or 0) > first, 10)  # counting: the running pipeline
        metrics = parse_prometheus(get(port, "/metrics")[1])
        assert metrics[("inspector_camera_up", frozenset({("camera", "cam1")}))] == 1
        assert metrics[("inspector_ready", frozenset())] == 1
        assert (
            metrics[("inspector_frames_total", frozenset({("camera", "cam1")}))] <= station.pipeline.snapshot().frames
        )
    finally:
        assert station.close(5.0)
    assert get(port, "/healthz")[0] == 0  # the HTTP sink stopped with the station


def test_context_follows_restarts_and_model_swaps(tmp_path: Path, tiny_bundle_path: Path, tiny_engine: Engine) -> None:
    config = load_config(write_config(tmp_path, tiny_bundle_path, trigger="opcua"))
    station = build_station(config, engine=tiny_engine)
    context = station.context
    assert context.pipeline is station.pipeline and context.cameras() == ["cam1"]
    station.start()
    try:
        assert wait_until(lambda: station.pipeline.cameras_up(), 10)
        assert context.trigger() == ["cam1"]
        old = station.pipeline
        swapped = Engine(tiny_engine.bundle, threshold=0.123, max_batch=tiny_engine.max_batch)
        station.swap_engine(swapped)
        assert station.restart(list(config.cameras), timeout=5.0)
        assert station.pipeline is not old and context.pipeline is station.pipeline
        assert station.pipeline.engine is swapped  # the swapped model survives the restart
        assert wait_until(lambda: station.pipeline.cameras_up(), 10)
        assert context.trigger("cam1") == ["cam1"]
        assert wait_until(lambda: context.snapshot().frames >= 1, 10)  # the trigger reached the new pipeline
        snap = context.snapshot()
        assert snap.run == station.pipeline.run_id != old.run_id
        assert snap.cameras["cam1"].triggers == 1 and old.snapshot().cameras["cam1"].triggers == 1
    finally:
        assert station.stop(5.0)


def test_set_roi_applies_to_the_next_frame_and_names_unknown_cameras(
    tmp_path: Path, tiny_bundle_path: Path, tiny_engine: Engine
) -> None:
    config = load_config(write_config(tmp_path, tiny_bundle_path))
    station = build_station(config, engine=tiny_engine)
    station.pipeline.set_roi("cam1", (8, 8, 40, 40))
    with pytest.raises(KeyError, match=r"no camera 'cam9'.*cam1"):
        station.pipeline.set_roi("cam9", None)
    station.start()
    try:
        assert wait_until(lambda: station.pipeline.last_record is not None, 10)
        assert station.pipeline.last_record.roi == (8, 8, 40, 40)
    finally:
        station.stop(5.0)
