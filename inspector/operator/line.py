"""The GUI's line controls without Qt (issue 13): recipe and lot answers in plain words, the audit trail as
table rows, its verification and its export. The widgets are in `inspector.gui.line_panel`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.audit import AuditLog, export_entries
from inspector.audit import operator_name as _user
from inspector.errors import InspectorError
from inspector.live.recipes import ChangeOutcome

if TYPE_CHECKING:
    from inspector.operator.station import LiveStation

AUDIT_COLUMNS = ("when", "who", "action", "target", "old", "new", "why")
EXPORT_FORMATS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)"}


def gui_user(role: str = "") -> str:
    """Who a GUI change is recorded as in the audit trail: `gui:<OS user>`, with the unlocked role."""
    return f"gui:{_user()}" + (f" ({role})" if role else "")


def outcome_text(outcome: ChangeOutcome) -> str:
    """A recipe or lot answer in plain words: what runs now, or the refusal's code and reason."""
    if outcome.ok:
        return (
            f"Recipe {outcome.recipe} running." if outcome.kind == "recipe" else f"Lot {outcome.lot or '(none)'} set."
        )
    keeps = f" Recipe {outcome.recipe or '(station default)'} keeps running." if outcome.kind == "recipe" else ""
    return (
        f"{outcome.kind.capitalize()} {outcome.requested!r} refused (error {int(outcome.error_code)} "
        f"{outcome.error_code.name}): {outcome.error_text}.{keeps}"
    )


def running_line(live: LiveStation) -> tuple[str, str]:
    """(recipe, lot) the station runs now; before the model loaded, the config's start recipe and no lot."""
    station = live.station
    return (station.recipe, station.lot) if station is not None else (live.config.recipe, "")


def line_text(live: LiveStation) -> str:
    """The running recipe and lot for the header (the operator sees both)."""
    recipe, lot = running_line(live)
    return f"recipe {recipe or '(station default)'}  \u00b7  lot {lot or '(none)'}"


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the table shows it (old and new as compact JSON)."""

    seq: int
    when: str
    who: str
    action: str
    target: str
    old: str
    new: str
    why: str

    def cells(self) -> tuple[str, ...]:
        return tuple(str(getattr(self, name)) for name in AUDIT_COLUMNS)


def _compact(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)


class AuditTrail:
    """Read-only access to one station's audit log for the viewer (None path: the GUI keeps no trail)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def rows(self) -> list[AuditRow]:
        """Every entry, oldest first ([] without a log). InspectorError for a line that is not an entry."""
        if self.path is None:
            return []
        return [
            AuditRow(
                int(e.get("seq", 0)),
                str(e.get("time", "")),
                str(e.get("who", "")),
                str(e.get("action", "")),
                str(e.get("target", "")),
                _compact(e.get("old")),
                _compact(e.get("new")),
                str(e.get("why", "")),
            )
            for e in AuditLog(self.path).entries()
        ]

    def verify(self) -> tuple[bool, str]:
        """(chain intact, plain words naming the first bad entry), as `inspector audit verify` says it."""
        if self.path is None:
            return False, "No audit trail: this GUI was not started from a station config (--config)."
        if not self.path.is_file():
            return True, f"OK: no entries yet ({self.path})."
        good, problem = AuditLog(self.path).verify()
        if problem is not None:
            return False, f"TAMPERED: {problem} ({good} entries before it check)."
        return True, f"OK: {good} entries, chain intact."

    def export(self, out: Path, fmt: str = "csv") -> int:
        """Write every entry to `out` (`fmt` csv or json, the format of `inspector audit export`); the count."""
        if fmt not in EXPORT_FORMATS:
            raise InspectorError(f"unknown export format {fmt!r}", f"use one of: {', '.join(EXPORT_FORMATS)}")
        entries = list(AuditLog(self.path).entries()) if self.path is not None else []
        try:
            with open(out, "w", newline="", encoding="utf-8") as handle:
                export_entries(entries, handle, fmt)
        except OSError as exc:
            raise InspectorError(
                f"cannot write {out}: {exc.strerror or exc}", "choose a folder you may write to"
            ) from None
        return len(entries)
