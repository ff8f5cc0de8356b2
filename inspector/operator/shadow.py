"""The shadow panel's model (issue 10 item 4), without Qt: the live comparison of a `[shadow]` candidate with
production in plain numbers, its latest disagreements, and promote / rollback / load-a-candidate in the
background. The comparison and the promotion are the station's (`ShadowControl`, inspector.live.shadow); the
widget is `inspector.gui.shadow_panel`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.audit import record_safely
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.live.config import StationConfig
from inspector.live.shadow import CANDIDATE, PRODUCTION, ShadowControl, ShadowOutcome, candidate_config
from inspector.live.station import build_engine
from inspector.operator.state import Message

if TYPE_CHECKING:
    from inspector.operator.station import LiveStation

log = logging.getLogger("inspector.gui")
RECENT = 4  # disagreements the panel lists
TAIL_BYTES = 64 * 1024  # read at most this much of each results.jsonl per refresh


@dataclass(frozen=True)
class Disagreement:
    """One frame the two bundles judged differently (a pair of rows of `<data_dir>/shadow/*/results.jsonl`)."""

    camera: str
    frame_id: int
    time: float
    production: str
    production_score: float
    candidate: str
    candidate_score: float
    image: Path | None  # the stored frame (None: not stored)

    def text(self) -> str:
        """Two lines: which frame, then both verdicts with their scores."""
        when = time.strftime("%H:%M:%S", time.localtime(self.time)) if self.time else "?"
        return (
            f"{self.camera} #{self.frame_id} at {when}\nproduction {self.production} {self.production_score:.3g}"
            f" \u2192 candidate {self.candidate} {self.candidate_score:.3g}"
        )


@dataclass(frozen=True)
class ShadowView:
    """What the panel draws, from one `ShadowControl.status()`."""

    candidate: str  # the candidate bundle's file name
    fingerprint: str  # the candidate's model ("" while promoted)
    offered: int
    compared: int
    agree: int
    skipped: int
    errors: int
    disagree: dict[str, int] = field(default_factory=dict)  # "OK->NG": n (production -> candidate)
    promoted: bool = False
    can_rollback: bool = False
    last_error: str = ""
    recent: tuple[Disagreement, ...] = ()

    @property
    def disagreements(self) -> int:
        return sum(self.disagree.values())

    @property
    def agreement(self) -> float | None:
        """Agreement in % of the frames compared (None before the first)."""
        return 100.0 * self.agree / self.compared if self.compared else None

    def count(self, production: str, candidate: str) -> int:
        return self.disagree.get(f"{production}->{candidate}", 0)

    def headline(self) -> str:
        if self.promoted:
            return f"Candidate {self.candidate} runs in PRODUCTION (promoted). Rollback puts the previous bundle back."
        return f"Candidate {self.candidate} (model {self.fingerprint[:12]}) judges the same frames, never the parts."

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) rows of the comparison."""
        agreement = f"{self.agreement:.1f} %" if self.agreement is not None else "-"
        other = self.disagreements - self.count("OK", "NG") - self.count("NG", "OK")
        rows = [
            ("frames compared", str(self.compared)),
            ("skipped (candidate busy)", str(self.skipped)),
            ("agreement", agreement),
            ("production OK, candidate NG", str(self.count("OK", "NG"))),
            ("production NG, candidate OK", str(self.count("NG", "OK"))),
        ]
        if other:
            rows.append(("other (UNSURE on one side)", str(other)))
        if self.errors:
            rows.append(("candidate errors", f"{self.errors} ({self.last_error})"))
        return rows


class RecentRows:
    """The newest disagreement pairs on disk, re-read only when the files grew."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._key: tuple[int, int] = (-1, -1)
        self._pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def latest(self, n: int, model: str = "", threshold: float | None = None) -> tuple[Disagreement, ...]:
        """The `n` newest disagreements (of candidate `model` at `threshold`, when given), newest first."""
        paths = [self.folder / side / "results.jsonl" for side in (PRODUCTION, CANDIDATE)]
        key = tuple(_size(p) for p in paths)
        if key != self._key:
            self._key = (key[0], key[1])
            production, candidate = (_tail_rows(p) for p in paths)
            # both files get one row per disagreement, in the same order: pair them from the end
            self._pairs = list(zip(production[::-1], candidate[::-1], strict=False))
        out = []
        for prod, cand in self._pairs:
            if model and cand.get("model") != model:
                continue
            if threshold is not None and not math.isclose(float(cand.get("threshold") or 0.0), threshold):
                continue  # the same bundle at another threshold is another candidate
            out.append(_disagreement(self.folder, prod, cand))
            if len(out) == n:
                break
        return tuple(out)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _tail_rows(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines in the last TAIL_BYTES of `path`, oldest first."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, _size(path) - TAIL_BYTES))
            data = handle.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if len(data) >= TAIL_BYTES:
        lines = lines[1:]  # the first one may be cut
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _disagreement(folder: Path, prod: dict[str, Any], cand: dict[str, Any]) -> Disagreement:
    image = folder / str(prod["path"]) if prod.get("path") else None
    return Disagreement(
        str(prod.get("camera", "")),
        int(prod.get("frame_id") or 0),
        float(prod.get("time") or 0.0),
        str(prod.get("verdict", "")),
        float(prod.get("score") or 0.0),
        str(cand.get("verdict", "")),
        float(cand.get("score") or 0.0),
        image if image is not None and image.is_file() else None,
    )


class ShadowActions:
    """The shadow panel's model over a LiveStation: the view to draw, and the engineer's actions."""

    def __init__(self, live: LiveStation, *, build: Callable[[StationConfig], Engine] = build_engine) -> None:
        self.live = live
        self._build = build
        self._recent: RecentRows | None = None
        self.last_outcome: ShadowOutcome | None = None  # the answer to the latest promote or rollback

    @property
    def configured(self) -> bool:
        """The station config has a `[shadow]` candidate (the panel is shown)."""
        return self.live.config.shadow is not None

    @property
    def control(self) -> ShadowControl | None:
        station = self.live.station
        return station.shadow if station is not None else None

    def view(self, recent: int = RECENT) -> ShadowView | None:
        """The comparison now (None: no candidate configured, or the station not started yet)."""
        control = self.control
        if control is None:
            return None
        status = control.status()
        if self._recent is None or self._recent.folder != control.worker.store.folder:
            self._recent = RecentRows(control.worker.store.folder)
        model = status["model_fingerprint"]
        engine = control.worker.engine
        return ShadowView(
            candidate=Path(status["candidate"]).name,
            fingerprint=model,
            offered=status["offered"],
            compared=status["compared"],
            agree=status["agree"],
            skipped=status["skipped"],
            errors=status["errors"],
            disagree=dict(status["disagree"]),
            promoted=bool(status["promoted"]),
            can_rollback=bool(status["rollback_to"]),
            last_error=status["last_error"],
            recent=self._recent.latest(recent, model, engine.threshold if engine else None) if model else (),
        )

    def promote(self, who: str, why: str) -> Future:
        """Promote in the background (the golden self-test runs on the candidate first); the Future gives the
        ShadowOutcome, its text also a message (and `last_outcome` once done)."""
        self.last_outcome = None
        return self.live.submit(self._act, "promote", who, why)

    def rollback(self, who: str, why: str) -> Future:
        self.last_outcome = None
        return self.live.submit(self._act, "rollback", who, why)

    def _act(self, action: str, who: str, why: str) -> ShadowOutcome:
        station = self.live.station
        if station is None:
            outcome = ShadowOutcome(action, False, "no model is running yet", "")
        elif action == "promote":
            outcome = station.promote_shadow(who=who, why=why)
        else:
            outcome = station.rollback(who=who, why=why)
        self.last_outcome = outcome
        self.live.messages.append(Message("info" if outcome.ok else "error", outcome_text(outcome)))
        return outcome

    def load_candidate(self, path: Path, who: str) -> Future:
        """Verify bundle `path` and let it judge in shadow from the next frame on (no restart); the Future gives
        True when it runs. Needs a station started with `[shadow]`; refused while a promoted candidate runs."""
        return self.live.submit(self._load, Path(path), who)

    def _load(self, path: Path, who: str) -> bool:
        control = self.control
        if control is None:
            self.live.messages.append(
                Message("error", "No shadow mode: start the station with a [shadow] section (docs/verdicts.md).")
            )
            return False
        settings = control.settings.model_copy(update={"model": path.resolve(), "threshold": None})
        try:
            engine = self._build(candidate_config(self.live.config, settings, threads=1))
            control.replace_candidate(settings, engine)
        except InspectorError as exc:
            self.live.messages.append(Message("error", f"Candidate {path.name} refused: {exc.message} ({exc.fix})."))
            return False
        if (audit := self.live.audit_path) is not None:
            record_safely(audit, "shadow_load", who=who, target=str(path), new={"model": engine.fingerprint})
        self.live.messages.append(Message("info", f"Candidate {path.name} runs in shadow mode (counts from 0)."))
        log.info("shadow candidate loaded", extra={"fields": {"path": str(path), "model": engine.fingerprint[:16]}})
        return True


def outcome_text(outcome: ShadowOutcome) -> str:
    """A promote or rollback answer in plain words."""
    if outcome.ok:
        return f"{outcome.action.capitalize()}: {outcome.text}."
    text = outcome.text.replace("the golden self-test failed", "the golden self-test")  # "fails the ... failed"
    return f"{outcome.action.capitalize()} refused: {text}. Production keeps running unchanged."
