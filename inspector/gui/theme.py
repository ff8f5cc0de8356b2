"""A dark, high-contrast theme for the shop floor, and image helpers (numpy -> QImage, heatmap colours)."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QColor, QFont, QImage, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

BG = "#14171c"
PANEL = "#1d2129"
RAISED = "#272c36"
TEXT = "#e8eaed"
MUTED = "#9aa3ae"
ACCENT = "#3d8bfd"
OK = "#1fa64a"
NG = "#e0312b"
DOWN = "#6b7280"
WARN = "#f0a020"
STARTING = "#2f6fd0"
UNSURE = "#e8a317"  # amber: the part could not be judged, a person must look
CAMERA_COLOURS = ("#3d8bfd", "#f0a020", "#b36bff", "#2ec4b6", "#ff6b9a", "#c0ca33")

STYLE = f"""
QWidget {{ background: {BG}; color: {TEXT}; }}
QFrame#panel, QGroupBox {{ background: {PANEL}; border: 1px solid {RAISED}; border-radius: 6px; }}
QGroupBox {{ margin-top: 14px; padding-top: 6px; font-weight: bold; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; }}
QLabel {{ background: transparent; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#warning {{ color: {WARN}; }}
QLabel#title {{ font-size: 15pt; font-weight: bold; }}
QLabel#pill {{ border-radius: 6px; padding: 3px 10px; font-weight: bold; color: white; }}
QLabel#banner {{ border-radius: 6px; padding: 6px 10px; font-weight: bold; color: #111; }}
QPushButton {{ background: {RAISED}; border: 1px solid #3a4150; border-radius: 5px; padding: 6px 12px;
               min-height: 22px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: {ACCENT}; }}
QPushButton:disabled {{ color: #5c6370; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: bold; }}
QPushButton#danger {{ background: #5a1d1b; border-color: {NG}; }}
QTabWidget::pane {{ border: 1px solid {RAISED}; border-radius: 6px; background: {PANEL}; }}
QTabBar::tab {{ background: {RAISED}; padding: 6px 14px; border-top-left-radius: 5px;
                border-top-right-radius: 5px; margin-right: 2px; }}
QTabBar::tab:selected {{ background: {ACCENT}; color: white; }}
QTableWidget {{ background: {PANEL}; gridline-color: {RAISED}; border: none; }}
QHeaderView::section {{ background: {RAISED}; color: {MUTED}; border: none; padding: 4px; }}
QListWidget {{ background: {PANEL}; border: none; }}
QListWidget::item:selected {{ background: {RAISED}; border: 1px solid {ACCENT}; }}
QSlider::groove:horizontal {{ height: 6px; background: {RAISED}; border-radius: 3px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 18px; margin: -7px 0; border-radius: 9px; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{ background: {RAISED}; border: 1px solid #3a4150;
               border-radius: 4px; padding: 4px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {ACCENT}; }}
QScrollArea {{ border: none; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and the stylesheet; a font readable at arm's length."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.5))
    app.setFont(font)
    app.setStyleSheet(STYLE)


def label(text: str, style: str, *, wrap: bool = False) -> QLabel:
    """A QLabel styled by one of the stylesheet's object names (muted, warning, title, pill, banner)."""
    widget = QLabel(text, wordWrap=wrap)
    widget.setObjectName(style)
    return widget


def button(text: str, style: str) -> QPushButton:
    """A QPushButton styled by one of the stylesheet's object names (primary, danger)."""
    widget = QPushButton(text)
    widget.setObjectName(style)
    return widget


def verdict_colour(state: str) -> str:
    return {"OK": OK, "NG": NG, "UNSURE": UNSURE, "DOWN": DOWN, "STARTING": STARTING, "STOPPED": DOWN}.get(state, DOWN)


def to_qimage(rgb: np.ndarray) -> QImage:
    """A deep copy of a uint8 RGB (HxWx3) or RGBA (HxWx4) array as a QImage."""
    array = np.ascontiguousarray(rgb)
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(array.data, w, h, array.strides[0], fmt).copy()


_STOPS = np.array([[0.0, 255, 230, 0], [0.5, 255, 140, 0], [1.0, 255, 0, 0]], dtype=np.float32)
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), _STOPS[:, 0], _STOPS[:, i]) for i in (1, 2, 3)], axis=1).astype(
    np.uint8
)


def heatmap_rgba(anomaly_map: np.ndarray, threshold: float, opacity: float) -> np.ndarray:
    """Colour an anomaly map relative to the threshold: clear well below it, yellow near it, red above it."""
    ratio = np.clip((anomaly_map.astype(np.float32) / max(threshold, 1e-6) - 0.75) / 0.5, 0.0, 1.0)
    index = (ratio * 255).astype(np.uint8)
    rgba = np.empty((*anomaly_map.shape, 4), np.uint8)
    rgba[..., :3] = _LUT[index]
    rgba[..., 3] = (np.clip(ratio * 2.0, 0.0, 1.0) * 255 * opacity).astype(np.uint8)
    return rgba


def fit(shape: tuple[int, ...], width: float, height: float) -> tuple[int, int]:
    """The largest (w, h) with the image's aspect ratio inside width x height (at least 1x1)."""
    scale = min(width / shape[1], height / shape[0])
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def render(
    image: np.ndarray,
    anomaly_map: np.ndarray | None,
    threshold: float,
    opacity: float,
    roi: tuple[int, int, int, int] | None,
    size: tuple[int, int],
) -> np.ndarray:
    """The frame resized to `size` (w, h) with the heatmap blended over the inspected area.

    The blend runs at the smaller of frame and display size, so a full-HD camera costs no more to
    draw than the display, and a small frame is blended first and scaled up once.
    """
    w, h = size
    if anomaly_map is None or opacity <= 0:
        return _resize(image, w, h)
    ih, iw = image.shape[:2]
    bw, bh = (iw, ih) if w >= iw else (w, h)
    out = _resize(image, bw, bh) if (bw, bh) != (iw, ih) else image.copy()
    sx, sy = bw / iw, bh / ih
    rx, ry, rw, rh = roi or (0, 0, iw, ih)
    x0, y0 = min(int(rx * sx), bw - 1), min(int(ry * sy), bh - 1)
    x1, y1 = min(bw, max(x0 + 1, round((rx + rw) * sx))), min(bh, max(y0 + 1, round((ry + rh) * sy)))
    heat = cv2.resize(heatmap_rgba(anomaly_map, threshold, opacity), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    alpha = heat[..., 3:4].astype(np.uint16)
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = ((region * (255 - alpha) + heat[..., :3] * alpha) // 255).astype(np.uint8)
    return _resize(out, w, h) if (bw, bh) != (w, h) else out


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear both ways: for a live view, speed beats INTER_AREA's smoother downscale."""
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
