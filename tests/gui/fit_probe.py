"""Run by test_fit.py in a fresh process (QT_SCALE_FACTOR applies at start): builds the operator window on a
1366x768 offscreen screen, shows it as `inspector gui` does and prints where the important widgets lie."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QWidget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qt_helpers import DEMO, camera  # noqa: E402

from inspector.gui.app import make_app, single_camera_config  # noqa: E402
from inspector.gui.main_window import MainWindow  # noqa: E402
from inspector.gui.review import ReviewQueue  # noqa: E402
from inspector.gui.settings import EngineerLock, Settings  # noqa: E402
from inspector.gui.station import LiveStation, Message  # noqa: E402


def on_screen(widget: QWidget) -> list[int]:
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def main() -> None:
    app = make_app()
    full_screen = sys.argv[1] == "full"
    config = single_camera_config(DEMO, [camera("cam1"), camera("cam2", seed=1)], station="test-line")
    station = LiveStation(config, disk_paths=[])
    window = MainWindow(station, EngineerLock(Settings(None)), ReviewQueue(Path(sys.argv[2])),
                        confirm=lambda *a: True)
    window.show_fitted(full_screen)
    station.messages.append(Message("error", "Model tampered.onnx refused: the checksum differs from its sidecar "
                                             "tampered.onnx.sha256. The running model keeps going."))
    window.slow_tick()
    for _ in range(20):
        app.processEvents()
    header = window.counters.horizontalHeader()
    widgets = {"status bar": window.statusBar(), "engineer button": window.engineer_button,
               "reset button": window.reset_button, "trend": window.trend, "counters": window.counters,
               "notice": window.notice, "tabs": window.tabs, **{f"camera {c}": v for c, v in window.views.items()}}
    result = {"screen": QRect(window.screen().availableGeometry()).getRect(),
              "frame": window.frameGeometry().getRect(),
              "widgets": {name: on_screen(w) for name, w in widgets.items()},
              "visible": {name: w.isVisible() for name, w in widgets.items()},
              "columns": [header.sectionViewportPosition(i) + header.sectionSize(i) for i in range(header.count())],
              "counters_width": window.counters.viewport().width(),
              "notice_fits": window.notice.heightForWidth(window.notice.width()) <= window.notice.height(),
              "notice_text": window.notice.text()}
    print(json.dumps(result))
    window.close_now()


if __name__ == "__main__":
    main()
