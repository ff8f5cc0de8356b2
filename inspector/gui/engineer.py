"""Engineer mode behind a PIN: threshold with a what-if preview, ROI editor, bundle loading, camera settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.errors import InspectorError
from inspector.gui import theme
from inspector.operator.config_save import SavedSettings
from inspector.operator.engineer import (
    STEPS,
    ThresholdCandidate,
    camera_changes,
    camera_fields,
    roi_text,
    threshold_warning,
)
from inspector.operator.roles import Role, required_role
from inspector.operator.settings import EngineerLock
from inspector.operator.state import Message
from inspector.operator.station import LiveStation
from inspector.threshold import describe_calibration

if TYPE_CHECKING:
    _MixinBase = QWidget  # what the mixin is mixed into, for the type checker
else:
    _MixinBase = object


class _WheelWhenFocused(_MixinBase):
    """Mixin: the wheel changes the value only after a click or Tab gave the widget focus; otherwise the
    panel scrolls (so scrolling over the Engineer tab never changes a setting)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # forwarded to the Qt widget it is mixed into
        super().__init__(*args, **kwargs)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class SpinBox(_WheelWhenFocused, QSpinBox):
    """A QSpinBox that ignores the wheel unless focused."""


class DoubleSpinBox(_WheelWhenFocused, QDoubleSpinBox):
    """A QDoubleSpinBox that ignores the wheel unless focused."""


class ComboBox(_WheelWhenFocused, QComboBox):
    """A QComboBox that ignores the wheel unless focused."""


class Slider(_WheelWhenFocused, QSlider):
    """A QSlider that ignores the wheel unless focused."""


class PinDialog(QDialog):
    """A PIN pad (touch friendly) for the PIN of `role`; accepted only when the lock opens for that role."""

    def __init__(self, lock: EngineerLock, parent: QWidget | None = None, role: Role = Role.ENGINEER) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"{role.value.capitalize()} PIN")
        self.lock, self.role = lock, role
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Enter the {role.value} PIN"))
        self.pin = QLineEdit(echoMode=QLineEdit.EchoMode.Password, placeholderText="PIN")
        self.pin.returnPressed.connect(self.try_pin)
        layout.addWidget(self.pin)
        pad = QGridLayout()
        for i, key in enumerate("123456789C0\u21b5"):
            button = QPushButton(key)
            button.setMinimumSize(56, 44)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, k=key: self._key(k))
            pad.addWidget(button, i // 3, i % 3)
        layout.addLayout(pad)
        self.error = theme.label("", "muted", wrap=True)
        layout.addWidget(self.error)

    def _key(self, key: str) -> None:
        if key == "C":
            self.pin.clear()
        elif key == "\u21b5":
            self.try_pin()
        else:
            self.pin.insert(key)

    def try_pin(self) -> None:
        ok, why = self.lock.unlock(self.pin.text(), self.role)
        self.pin.clear()
        if ok:
            self.accept()
        else:
            self.error.setText(why)


class EngineerPanel(QStackedWidget):
    """Page 0: locked; page 1: the engineer's tools. The main window switches pages as the lock changes."""

    unlockRequested = Signal()
    lockRequested = Signal()
    roiEdit = Signal(str, bool)  # camera, editing
    exportRequested = Signal()
    retrainRequested = Signal()  # "Retrain from the review queue..." (inspector.gui.retrain)

    def __init__(
        self,
        station: LiveStation,
        lock: EngineerLock,
        parent: QWidget | None = None,
        confirm: Callable[[QWidget, str, str], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.station, self.lock = station, lock
        self._confirm = confirm or (lambda *_: True)
        self.threshold = ThresholdCandidate(station)  # the slider's threshold; moves only by the user's hand
        self._was_unlocked = False
        self.saved = SavedSettings(station.config)  # what the station config file holds
        locked = QWidget()
        box = QVBoxLayout(locked)
        box.addStretch(1)
        box.addWidget(QLabel("Engineer mode is locked.", alignment=Qt.AlignmentFlag.AlignCenter))
        unlock = theme.button("Unlock (Ctrl+E)", "primary")
        unlock.clicked.connect(self.unlockRequested)
        box.addWidget(unlock, alignment=Qt.AlignmentFlag.AlignCenter)
        box.addStretch(2)
        self.addWidget(locked)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._tools())
        self.addWidget(scroll)

    # ------------------------------------------------------------------ layout
    def _tools(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        top = QHBoxLayout()
        self.remaining = theme.label("", "muted")
        lock = QPushButton("Lock now (Ctrl+L)")
        lock.clicked.connect(self.lockRequested)
        top.addWidget(self.remaining, 1)
        top.addWidget(lock)
        layout.addLayout(top)
        layout.addWidget(self._threshold_box())
        self.camera = ComboBox()
        self.camera.addItems(list(self.station.cameras))
        self.camera.currentTextChanged.connect(self._camera_changed)
        layout.addWidget(self._roi_box())
        layout.addWidget(self._model_box())
        from inspector.gui.self_test_box import SelfTestBox  # it uses this module's PinDialog

        self.self_test_box = SelfTestBox(self.station, self.lock)
        layout.addWidget(self.self_test_box)
        layout.addWidget(self._camera_box())
        layout.addWidget(self._save_box())
        export = QPushButton("Export review queue as dataset (split.csv)")
        export.clicked.connect(self.exportRequested)
        layout.addWidget(export)
        self.retrain_button = QPushButton("Retrain from the review queue...")
        self.retrain_button.clicked.connect(self.retrainRequested)
        layout.addWidget(self.retrain_button)
        layout.addStretch(1)
        self._camera_changed(self.camera.currentText())
        return page

    def _threshold_box(self) -> QGroupBox:
        group = QGroupBox("Threshold")
        form = QVBoxLayout(group)
        self.slider = Slider(Qt.Orientation.Horizontal, minimum=0, maximum=STEPS)
        self.slider.valueChanged.connect(self._moved)
        self.value = QLabel("")
        self.preview_label = theme.label("", "muted", wrap=True)
        self.calibration_label = theme.label("", "muted", wrap=True)
        self.far_label = theme.label("", "warning", wrap=True)  # the candidate against calibration
        self.far_label.hide()
        row = QHBoxLayout()
        self.apply = theme.button("Apply threshold", "primary")
        self.apply.clicked.connect(lambda: self.apply_threshold(self.slider_value()))
        self.apply.setToolTip("Inspect with the threshold above from the next batch on")
        reset = QPushButton("Model's own")
        reset.setToolTip("Back to the threshold the bundle was calibrated with")
        reset.clicked.connect(self._bundle_threshold)
        row.addWidget(self.apply)
        row.addWidget(reset)
        for w in (self.value, self.slider, self.preview_label, self.far_label, self.calibration_label):
            form.addWidget(w)
        form.addLayout(row)
        return group

    def _roi_box(self) -> QGroupBox:
        group = QGroupBox("Region of interest")
        form = QVBoxLayout(group)
        form.addWidget(self.camera)
        row = QHBoxLayout()
        self.draw_roi = QPushButton("Draw ROI")
        self.draw_roi.setCheckable(True)
        self.draw_roi.setToolTip("Then drag a rectangle on the camera's image")
        self.draw_roi.toggled.connect(lambda on: self.roiEdit.emit(self.camera.currentText(), on))
        whole = QPushButton("Whole frame")
        whole.clicked.connect(lambda: self.set_roi(self.camera.currentText(), None))
        row.addWidget(self.draw_roi)
        row.addWidget(whole)
        form.addLayout(row)
        self.roi_label = theme.label("", "muted", wrap=True)
        form.addWidget(self.roi_label)
        return group

    def _model_box(self) -> QGroupBox:
        group = QGroupBox("Model")
        form = QVBoxLayout(group)
        self.model_label = theme.label("", "muted", wrap=True)
        load = QPushButton("Load bundle...")
        load.setToolTip("Verified before the swap; if it is refused the running model keeps going")
        load.clicked.connect(self._choose_bundle)
        form.addWidget(self.model_label)
        form.addWidget(load)
        return group

    def _save_box(self) -> QGroupBox:
        group = QGroupBox("Station config")
        column = QVBoxLayout(group)
        self.unsaved_label = theme.label("", "muted", wrap=True)
        self.save_button = QPushButton("Save to station config")
        self.save_button.setToolTip("Write the threshold and ROIs into the station TOML, so a restart keeps them")
        self.save_button.clicked.connect(self.save_to_config)
        column.addWidget(self.unsaved_label)
        column.addWidget(self.save_button)
        return group

    def _camera_box(self) -> QGroupBox:
        group = QGroupBox("Camera settings")
        column = QVBoxLayout(group)
        self.settings_form = QFormLayout()
        self.camera_error = theme.label("", "muted", wrap=True)
        column.addLayout(self.settings_form)
        column.addWidget(self.camera_error)
        return group

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """Called by the main window's slow timer: lock countdown, model line, threshold preview."""
        self.setCurrentIndex(1 if self.lock.unlocked else 0)
        opened, self._was_unlocked = self.lock.unlocked and not self._was_unlocked, self.lock.unlocked
        if not self.lock.unlocked:
            if self.draw_roi.isChecked():
                self.draw_roi.setChecked(False)
            return
        self.remaining.setText(f"Locks after {self.lock.remaining_s():.0f} s without input")
        self.self_test_box.refresh()
        engine = self.station.engine
        self.model_label.setText(
            f"{engine.bundle.path.name} ({engine.bundle.metadata.method}), model {engine.fingerprint[:12]}"
            if engine
            else "no model running"
        )
        deployed = engine.bundle.metadata.threshold_method.get("deployed", {}) if engine else {}
        text, warns = describe_calibration(deployed)
        self.calibration_label.setText(("⚠ " if warns else "") + text)
        self.calibration_label.setObjectName("warning" if warns else "muted")
        self.threshold.follow(opened)  # a new running threshold (or the panel just opened): start from it
        self._place_slider()
        self._slid()
        self._show_unsaved()

    def slider_value(self) -> float:
        """The candidate threshold (the running one until the user moves the slider)."""
        return self.threshold.current()

    def set_slider(self, threshold: float) -> None:
        """Make `threshold` the candidate (as if the user had moved the slider there)."""
        self.threshold.set(threshold)
        self._place_slider()
        self._slid()

    def _place_slider(self) -> None:
        """Put the handle at the candidate on the current scale, without touching the candidate."""
        position = self.threshold.position()
        if position is None or self.slider.isSliderDown():
            return
        self.slider.blockSignals(True)
        self.slider.setValue(position)
        self.slider.blockSignals(False)

    def _moved(self, position: int) -> None:
        """The user moved the slider (drag, keys, focused wheel): the candidate follows the handle."""
        self.threshold.move_to(position)
        self._slid()

    def _slid(self) -> None:
        current = self.station.threshold
        if current is None:
            return
        temporary = " <b>TEMPORARY</b> until restart" if self.saved.threshold_changed(self.station) else ""
        self.value.setText(f"<b>{self.slider_value():.3f}</b> (running: {current:.3f}{temporary})")
        self.preview_label.setText(self.threshold.preview())
        far = self.threshold.far_warning()
        self.far_label.setText(far)
        self.far_label.setVisible(bool(far))

    def _allowed(self, action: str) -> bool:
        """The unlocked role may do `action`; else say which PIN it needs (the page may be stale)."""
        if self.lock.allows(action):
            return True
        self.station.messages.append(
            Message("warning", f"Not done: {action} needs the {required_role(action).value} PIN.")
        )
        return False

    def apply_threshold(self, value: float) -> None:
        if not self._allowed("threshold"):
            return
        try:
            self.station.set_threshold(value)
        except InspectorError as exc:
            self.preview_label.setText(f"Not applied: {exc.message} ({exc.fix}).")
            return
        self.threshold.applied(value)
        self._place_slider()
        self._slid()
        if far := threshold_warning(self.station, value):
            self.station.messages.append(Message("warning", f"Threshold {value:.3g} applied, but {far}."))
        self._show_unsaved()

    # ------------------------------------------------------------------ station config
    def _show_unsaved(self) -> None:
        changes = self.saved.changes(self.station)
        self.unsaved_label.setText(self.saved.describe(changes))
        self.unsaved_label.setObjectName("warning" if changes else "muted")
        self.unsaved_label.style().polish(self.unsaved_label)
        self.save_button.setEnabled(bool(changes) and self.saved.writable_path())

    def save_to_config(self) -> bool:
        """Write the running threshold and every camera's ROI into the station TOML (asked first)."""
        changes = self.saved.changes(self.station)
        if not changes or not self.saved.writable_path() or not self._allowed("save_config"):
            return False
        if not self._confirm(
            self,
            "Save to station config",
            f"Write to {self.saved.path}:\n" + "\n".join(changes) + "\n\nA restart then starts with these settings.",
        ):
            return False
        try:
            self.saved.save(self.station)
        except InspectorError as exc:
            text = f"Not saved: {exc.message}. Fix: {exc.fix}."
            self.unsaved_label.setText(text)
            self.station.messages.append(Message("error", text))
            return False
        self.station.messages.append(Message("info", f"Saved to {self.saved.path}: " + "; ".join(changes) + "."))
        self._show_unsaved()
        self._camera_changed(self.camera.currentText())
        self._slid()
        return True

    def _bundle_threshold(self) -> None:
        if self.station.engine is not None:
            self.set_slider(self.station.engine.bundle.metadata.threshold)
            self.apply_threshold(self.station.engine.bundle.metadata.threshold)

    def set_roi(self, cam: str, roi: tuple[int, int, int, int] | None) -> bool:
        """Inspect `roi` of `cam`; an ROI other than the one the model was calibrated with is asked first."""
        self.draw_roi.setChecked(False)
        if not self._allowed("roi"):
            return False
        warning = self.station.roi_warning(cam, roi)
        if warning and not self._confirm(self, "Region of interest", f"{warning}\n\nUse this ROI anyway?"):
            self.roi_label.setText("ROI not changed.")
            return False
        try:
            self.station.set_roi(cam, roi)
        except InspectorError as exc:
            self.roi_label.setText(f"{exc.message}: {exc.fix}")
            return False
        self._camera_changed(cam)
        self._show_unsaved()
        return True

    def _choose_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a model bundle", "", "Model bundles (*.onnx)")
        if path and self._allowed("recipe"):
            self.station.load_bundle(Path(path))

    def _camera_changed(self, cam: str) -> None:
        if not cam:
            return
        cfg = self.station.cameras[cam]
        self.roi_label.setText(roi_text(self.station, self.saved, cam))
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        self._fields: dict[str, QWidget] = {}
        self.settings_form.addRow(theme.label(f"{cam}: {cfg.kind}", "muted"))
        for field in camera_fields(cfg):
            self._add_field(field.name, field.value, field.help)
        apply = QPushButton("Apply (restarts the cameras)")
        apply.clicked.connect(self.apply_camera)
        self.settings_form.addRow(apply)

    def _add_field(self, name: str, value: object, help_text: str) -> None:
        if isinstance(value, bool):
            check = QCheckBox()
            check.setChecked(value)
            widget: QWidget = check
        elif isinstance(value, int):
            widget = SpinBox(minimum=0, maximum=1_000_000, value=value)
        elif isinstance(value, float):
            widget = DoubleSpinBox(minimum=0.1 if name == "max_fps" else 0.0, maximum=1e6, decimals=2, value=value)
        else:
            widget = QLineEdit("" if value is None else str(value))
        widget.setToolTip(help_text)
        self._fields[name] = widget
        self.settings_form.addRow(name.removeprefix("source."), widget)

    def apply_camera(self) -> bool:
        """Check the settings with the station config's rules and restart the cameras; refused: say why."""
        if not self._allowed("camera"):
            return False
        values = {name: _field_value(widget) for name, widget in self._fields.items()}
        changes = camera_changes(values)
        try:
            self.station.update_camera(self.camera.currentText(), **changes)
        except InspectorError as exc:
            text = f"{exc.message}. Fix: {exc.fix}."
            self.camera_error.setText(text)
            self.station.messages.append(Message("error", text))
            return False
        self.camera_error.setText("")
        return True


def _field_value(widget: QWidget) -> object:
    """The value a camera-settings field holds (an empty text field is None)."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QLineEdit):
        return widget.text() or None
    raise TypeError(f"no value for a {type(widget).__name__} field")
