"""Issue 13 item 5 on real widgets: an operator PIN opens review but never the threshold; the unlock dialog
asks for the role the action needs."""

from __future__ import annotations

from qt_helpers import PIN, camera, wait_records

from inspector.gui.engineer import PinDialog
from inspector.operator.review import FALSE_REJECT
from inspector.operator.roles import Role
from inspector.operator.settings import Settings

OPERATOR_PIN = "111222"


def test_an_operator_pin_reviews_but_cannot_change_the_threshold(qtbot, make_window, tmp_path) -> None:
    settings = Settings(tmp_path / "gui.json")
    settings.set_pin(PIN)
    settings.set_pin(OPERATOR_PIN, role=Role.OPERATOR)
    window = make_window([camera("cam1", fps=20.0, ng_rate=0.8)])
    wait_records(qtbot, window, 1)
    running = window.station.engine.threshold
    engineer = window.open_engineer()  # engineer mode asks for the engineer PIN: the operator's is wrong
    assert isinstance(engineer, PinDialog) and engineer.windowTitle() == "Engineer PIN"
    engineer.pin.setText(OPERATOR_PIN)
    engineer.try_pin()
    assert engineer.error.text() == "Wrong PIN." and not window.lock.unlocked
    engineer.close()
    qtbot.waitUntil(lambda: window.station.stats.total().ng >= 1, timeout=15000)
    part = window.station.stats.gallery[-1]
    window.open_part(part).marked.emit(part, FALSE_REJECT, "")  # review asks for the operator PIN first
    review = next(d for d in window.findChildren(PinDialog) if d.isVisible())
    assert review.windowTitle() == "Operator PIN" and window.review.rows() == []
    review.pin.setText(OPERATOR_PIN)
    review.try_pin()
    qtbot.waitUntil(lambda: len(window.review.rows()) == 1, timeout=10000)
    assert window.lock.role is Role.OPERATOR and not window.lock.unlocked
    window.slow_tick()
    assert window.engineer.currentIndex() == 0  # the engineer's tools stay hidden
    window.engineer.apply_threshold(running * 3)  # and refuse even when reached directly
    assert window.station.engine.threshold == running
    assert any("threshold needs the engineer PIN" in m.text for m in window.station.messages)
    assert isinstance(window.open_engineer(), PinDialog)  # still asks for the engineer PIN
