"""Issue 10 item 2 in the GUI (real widgets, offscreen): a golden sample judged otherwise than recorded (the
threshold tampered in the station config) puts the station in SELF-TEST FAILED, with the sample in the banner,
until the engineer acknowledges; the acknowledgement is an audit entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qt_helpers import DEMO

from inspector.audit import AuditLog
from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.gui import theme
from inspector.live.config import load_config
from inspector.live.golden import GoldenSet
from inspector.synthetic import make_part

STATION = """\
schema_version = 1
station = "line3"

[model]
path = "{model}"
threads = 1
threshold = {threshold}

[[cameras]]
id = "cam1"
[cameras.source]
kind = "synthetic"
fps = 10
size = 128
"""


def test_a_flipped_golden_verdict_shows_self_test_failed_until_acknowledged(
    qtbot, open_station, tmp_path: Path
) -> None:
    import cv2

    part = make_part(np.random.default_rng(3), size=(128, 128)).image
    image = tmp_path / "part.png"
    assert cv2.imwrite(str(image), cv2.cvtColor(part, cv2.COLOR_RGB2BGR))
    engine = Engine(load_bundle(DEMO, threads=1))
    got = engine.inspect([part])[0].verdict.value
    assert got in ("OK", "NG")
    GoldenSet(tmp_path / "golden").add(image, got, engine)
    flipped = 0.0 if got == "OK" else 1e9  # tampered: the recorded verdict cannot hold
    path = tmp_path / "station.toml"
    path.write_text(STATION.format(model=DEMO, threshold=flipped))
    window = open_station(load_config(path))
    qtbot.waitUntil(lambda: (window.slow_tick(), window.phase_pill.text())[1] == "SELF-TEST FAILED", timeout=10000)
    assert theme.NG in window.phase_pill.styleSheet()
    assert window.banner.isVisible()
    assert f"part.png expected {got} got {'NG' if got == 'OK' else 'OK'}" in window.banner.text()
    assert "acknowledges" in window.banner.text()

    assert window.station.acknowledge_self_test("gui:eng", "tampered on purpose")
    window.slow_tick()
    assert window.phase_pill.text() in ("RUNNING", "CAMERA DOWN")
    assert "Self-test failed" not in window.banner.text() or not window.banner.isVisible()
    acks = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "golden_ack"]
    assert [e["who"] for e in acks] == ["gui:eng"]
