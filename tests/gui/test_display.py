"""Issue 15, item 10: a missing X11 library of Qt's xcb plugin is named with its Debian package, and
`inspector demo` then runs headless instead of aborting inside Qt."""

from __future__ import annotations

import argparse

from inspector import demo
from inspector.gui import app, display

LDD = """\tlinux-vdso.so.1 (0x00007ffc)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f)
"""


def test_missing_xcb_libraries_are_named_with_their_debian_packages() -> None:
    problem = display.display_problem({"DISPLAY": ":0"}, run=lambda command: LDD)
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem
    assert problem.endswith("sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")
    assert display.display_problem({"DISPLAY": ":0"}, run=lambda command: LDD.replace("not found", "/lib/x")) == ""
    assert display.display_problem({}, run=lambda command: LDD) == ""  # no display: the headless path says so
    assert display.display_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, run=lambda c: LDD) == ""


def test_the_demo_runs_headless_and_says_what_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(app, "display_problem", lambda: display.display_problem(run=lambda command: LDD))
    args = argparse.Namespace(headless=False, model=None)
    assert demo._gui(args) is None
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in err and "headless" in err
