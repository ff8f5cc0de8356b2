"""Run by test_fit.py in a fresh process (QT_SCALE_FACTOR applies at start): opens the operator window on a
1366x768 offscreen screen with `open_window` (as `inspector gui` does) and prints where its important widgets lie."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QPushButton, QWidget

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]  # qt_helpers, fakes
from qt_helpers import DEMO, camera  # noqa: E402

from inspector.gui.app import make_app, open_window  # noqa: E402
from inspector.operator.launch import single_camera_config  # noqa: E402
from inspector.operator.review import ReviewQueue  # noqa: E402
from inspector.operator.settings import Settings  # noqa: E402
from inspector.operator.state import Message  # noqa: E402


def on_screen(widget: QWidget) -> list[int]:
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def main() -> None:
    app = make_app()
    full_screen = sys.argv[1] == "full"
    config = single_camera_config(DEMO, [camera("cam1"), camera("cam2", seed=1)], station="test-line")
    window = open_window(config, Settings(None), ReviewQueue(Path(sys.argv[2])), full_screen=full_screen)
    station = window.station
    station.messages.append(
        Message(
            "error",
            "Model tampered.onnx refused: the checksum differs from its sidecar "
            "tampered.onnx.sha256. The running model keeps going.",
        )
    )
    window.slow_tick()
    for _ in range(20):
        app.processEvents()
    header = window.counters.horizontalHeader()
    widgets = {
        "status bar": window.statusBar(),
        "engineer button": window.engineer_button,
        "reset button": next(b for b in window.findChildren(QPushButton) if b.text().startswith("Reset")),
        "trend": window.trend,
        "counters": window.counters,
        "notice": window.notice,
        "tabs": window.tabs,
        **{f"camera {c}": v for c, v in window.views.items()},
    }
    result = {
        "screen": QRect(window.screen().availableGeometry()).getRect(),
        "frame": window.frameGeometry().getRect(),
        "widgets": {name: on_screen(w) for name, w in widgets.items()},
        "visible": {name: w.isVisible() for name, w in widgets.items()},
        "columns": [header.sectionViewportPosition(i) + header.sectionSize(i) for i in range(header.count())],
        "counters_width": window.counters.viewport().width(),
        "notice_fits": window.notice.heightForWidth(window.notice.width()) <= window.notice.height(),
        "notice_text": window.notice.text(),
    }
    print(json.dumps(result))
    window.close_now()  # the window as `inspector gui` opens it (station started), closed without asking


if __name__ == "__main__":
    main()
