"""Shadow mode (docs/verdicts.md#shadow-mode): a candidate bundle judges the production frames beside production.

`Shadow` is a worker thread with its own engine (one onnxruntime thread, the thread's OS priority lowered by
`nice`). The pipeline hands it each record *after* the production verdict went to the sinks (`offer`): the
hand-over is a slot of one that never blocks, so a frame that arrives while the worker is busy takes the slot
and the frame waiting there is skipped (counted). Production never waits for the candidate.

A frame whose verdicts differ is stored under `<data_dir>/shadow/`: the frame (`images/`) and one row in
`production/results.jsonl` and one in `candidate/results.jsonl`, in the batch results format
(inspector.batch.store), so `inspector compare <shadow>/production <shadow>/candidate` lists them. A row's
`path` is the image, relative to the shadow folder.

`Station.promote_shadow` (inspector.live.station) runs the golden-sample self-test on the candidate first and
swaps only when it passes; `Station.rollback` puts the previous bundle back. Both are audit entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2

from inspector.audit import record_safely
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.live.pipeline import crop
from inspector.live.record import FrameRecord
from inspector.live.snapshot import ShadowSnapshot
from inspector.result import InspectionResult

if TYPE_CHECKING:
    from inspector.live.config import ShadowSettings, StationConfig
    from inspector.live.golden import SelfTest

log = logging.getLogger(__name__)
PRODUCTION, CANDIDATE, IMAGES = "production", "candidate", "images"


def lower_priority(nice: int) -> bool:
    """Lower the calling thread's OS priority by `nice` (Linux: per thread); False where it cannot."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
        return True
    except OSError as exc:
        log.warning("shadow thread priority not lowered", extra={"fields": {"error": str(exc)}})
        return False


def _row(path: str, sha256: str, result: InspectionResult, record: FrameRecord) -> dict[str, object]:
    """One side of a disagreement as a batch results row (inspector.batch.store.FIELDS) plus where it came from."""
    return {
        "path": path,
        "sha256": sha256,
        "label": None,
        "score": float(result.score),
        "verdict": result.verdict.value,
        "reason": result.reason_code or None,
        "predicted_class": result.predicted_class,
        "latency_ms": result.timings_ms.get("total"),
        "model": result.model_fingerprint,
        "error": None,
        "threshold": float(result.threshold),
        "station": record.station,
        "camera": record.camera,
        "run": record.run,
        "frame_id": record.frame_id,
        "part_id": record.part_id,
        "recipe": record.recipe,
        "lot": record.lot,
        "time": record.captured_at,
    }


class DisagreementStore:
    """`<shadow>/images/` plus `production/results.jsonl` and `candidate/results.jsonl` (appended, flushed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def add(self, record: FrameRecord, candidate: InspectionResult) -> str:
        """Store the frame and both rows; returns the row's path (relative to the shadow folder)."""
        name = f"{record.run}_{record.camera}_{record.frame_id:08d}.png"
        images = self.folder / IMAGES
        images.mkdir(parents=True, exist_ok=True)
        image = record.image
        data = b""
        if image is not None:
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if not ok:
                raise OSError(f"cannot encode frame {record.frame_id} of camera {record.camera} as PNG")
            data = encoded.tobytes()
            (images / name).write_bytes(data)
        path = f"{IMAGES}/{name}"
        digest = hashlib.sha256(data).hexdigest() if data else None
        for side, result in ((PRODUCTION, record.result), (CANDIDATE, candidate)):
            (self.folder / side).mkdir(parents=True, exist_ok=True)
            with open(self.folder / side / "results.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(_row(path, digest or "", result, record), sort_keys=True) + "\n")
        return path


class Shadow:
    """The candidate's worker: a slot of one frame, its own engine, counts of what it compared."""

    def __init__(self, engine: Engine | None, folder: Path, *, nice: int = 10) -> None:
        self.store = DisagreementStore(folder)
        self.nice = nice
        self._engine = engine
        self._cond = threading.Condition()
        self._pending: FrameRecord | None = None
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._offered = self._skipped = self._errors = self._stored = self._store_errors = 0
        self._outcomes: Counter[str] = Counter()  # "OK->NG" (production -> candidate), "OK->OK", ...
        self.last_error = ""
        self.promoted = False  # the candidate runs in production now (Station.promote_shadow)

    @property
    def engine(self) -> Engine | None:
        """The candidate's engine (None: no candidate, e.g. after a promotion)."""
        return self._engine

    def set_engine(self, engine: Engine | None, *, promoted: bool) -> None:
        """Judge with `engine` from the next frame on (None: idle); the counts start again."""
        with self._cond:
            self._engine, self.promoted = engine, promoted
            self._pending = None
            self._offered = self._skipped = self._errors = self._stored = self._store_errors = 0
            self._outcomes.clear()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 4.0) -> bool:
        """Judge what is in hand and in the slot, then end; True when the thread ended in time."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    # ------------------------------------------------------------------ the hand-over (pipeline thread)
    def offer(self, record: FrameRecord) -> None:
        """Give the candidate a judged frame; never blocks: the frame waiting in the slot is skipped."""
        with self._cond:
            if self._engine is None or self._stopping:
                return
            self._offered += 1
            if self._pending is not None:
                self._skipped += 1
            self._pending = record
            self._cond.notify()

    # ------------------------------------------------------------------ the worker
    def _run(self) -> None:
        lower_priority(self.nice)
        while self.step(wait=0.5) is not None or not self._stopping:
            pass

    def step(self, wait: float = 0.0) -> str | None:
        """Judge the frame in the slot (waiting up to `wait` s for one): its outcome ("OK->NG"), None if none."""
        with self._cond:
            if self._pending is None and wait > 0 and not self._stopping:
                self._cond.wait(wait)
            record, engine = self._pending, self._engine
            if record is None or engine is None:
                return None
            self._pending, self._busy = None, True
        try:
            return self._judge(engine, record)
        finally:
            with self._cond:
                self._busy = False

    def _judge(self, engine: Engine, record: FrameRecord) -> str:
        try:
            if record.image is None:
                raise ValueError("the record carries no image")
            result = engine.inspect([crop(record.image, record.roi)])[0]
        except Exception as exc:  # noqa: BLE001 (a candidate that fails is counted, never stops the station)
            with self._cond:
                if self._engine is engine:
                    self._errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return "error"
        outcome = f"{record.result.verdict.value}->{result.verdict.value}"
        stored = False
        if result.verdict is not record.result.verdict:
            try:
                self.store.add(record, result)
                stored = True
            except OSError as exc:
                self.last_error = f"disagreement not stored: {exc}"[:200]
                log.error("shadow disagreement not stored", extra={"fields": {"error": str(exc)}})
        with self._cond:
            if self._engine is engine:  # not counted into a new candidate's figures
                self._outcomes[outcome] += 1
                self._stored += stored
                self._store_errors += not stored and result.verdict is not record.result.verdict
        return outcome

    def snapshot(self) -> ShadowSnapshot:
        with self._cond:
            agree = sum(n for key, n in self._outcomes.items() if key.split("->")[0] == key.split("->")[1])
            disagree = {key: n for key, n in sorted(self._outcomes.items()) if key.split("->")[0] != key.split("->")[1]}
            return ShadowSnapshot(
                model_fingerprint=self._engine.fingerprint if self._engine is not None else "",
                offered=self._offered,
                agree=agree,
                disagree=disagree,
                skipped=self._skipped,
                errors=self._errors,
                pending=int(self._pending is not None),
                busy=int(self._busy),
                stored=self._stored,
                store_errors=self._store_errors,
                promoted=self.promoted,
                last_error=self.last_error,
            )


# ---------------------------------------------------------------------- promotion and rollback
def candidate_config(config: StationConfig, settings: ShadowSettings, *, threads: int | None = None) -> StationConfig:
    """`config` with the candidate as its `[model]` (its threshold; `threads`: the shadow worker's one)."""
    update: dict[str, object] = {"path": settings.model, "threshold": settings.threshold}
    if threads is not None:
        update["threads"] = threads
    return config.model_copy(update={"model": config.model.model_copy(update=update)})


@dataclass(frozen=True)
class ShadowOutcome:
    """The answer to a promote or rollback request (what the CLI and the GUI show)."""

    action: str  # promote | rollback
    ok: bool
    text: str
    model: str  # the production model's fingerprint afterwards
    golden: dict[str, Any] | None = None  # the candidate's golden run (promote)

    def summary(self) -> dict[str, Any]:
        return {"action": self.action, "ok": self.ok, "text": self.text, "model": self.model, "golden": self.golden}


class StationLike(Protocol):
    """What ShadowControl needs of inspector.live.station.Station."""

    config: StationConfig
    engine: Engine
    self_test: SelfTest
    recipe: str

    def swap_engine(self, engine: Engine) -> None: ...


class ShadowControl:
    """The station's shadow mode: the worker, and promotion (golden test on the candidate first) and rollback,
    one request at a time, each an audit entry."""

    def __init__(
        self,
        station: StationLike,
        worker: Shadow,
        build: Callable[[StationConfig], Engine],
        *,
        audit_path: Path | None = None,
    ) -> None:
        settings = station.config.shadow
        if settings is None:
            raise ValueError("ShadowControl needs a station config with [shadow]")
        self.settings = settings
        self.worker = worker
        self._station = station
        self._build = build
        self._audit_path = audit_path
        self._lock = threading.Lock()
        self._previous: Engine | None = None  # production before the promotion (rollback puts it back)
        self._candidate: Engine | None = None  # the shadow worker's engine while promoted

    def status(self) -> dict[str, Any]:
        """JSON-ready: the candidate, the counts, whether a rollback is possible (GET /shadow)."""
        snap = self.worker.snapshot()
        return {
            "candidate": str(self.settings.model),
            "production_model": self._station.engine.fingerprint,
            "rollback_to": self._previous.fingerprint if self._previous is not None else "",
            "folder": str(self.worker.store.folder),
            **dataclasses.asdict(snap),
            "compared": snap.compared,
            "disagreements": snap.disagreements,
        }

    def replace_candidate(self, settings: ShadowSettings, engine: Engine) -> None:
        """Judge with another (already verified) candidate from the next frame on, its counts from 0 (the GUI's
        run-time load); refused while a promoted candidate runs in production."""
        with self._lock:
            if self.worker.promoted:
                raise InspectorError("a promoted candidate runs in production", "roll back first, then load another")
            self.settings = settings
            self.worker.set_engine(engine, promoted=False)

    def promote(self, *, who: str, why: str = "") -> ShadowOutcome:
        """Build the candidate as production runs it, run the golden set on it, and swap only when it passes."""
        with self._lock:
            station = self._station
            old = station.engine.fingerprint
            if self.worker.promoted or self.worker.engine is None:
                return self._refuse("promote", "the candidate already runs in production (roll back first)", who, why)
            golden = station.self_test.golden_for(station.recipe)  # the running recipe's set, else the station's
            if not golden.samples():
                return self._refuse(
                    "promote",
                    "no golden samples to check the candidate with",
                    who,
                    why,
                    fix="add some with `inspector golden add`, then promote",
                )
            try:
                engine = self._build(candidate_config(station.config, self.settings))
            except Exception as exc:  # noqa: BLE001 (any bundle that cannot be used is refused)
                text = exc.message if isinstance(exc, InspectorError) else f"{type(exc).__name__}: {exc}"
                return self._refuse("promote", f"the candidate cannot be loaded: {text}", who, why)
            run = golden.run(engine, trigger="shadow promote")
            if not run.passed:
                return self._refuse(
                    "promote", f"the candidate fails the {run.reason()}", who, why, golden=run.to_dict()
                )
            previous = station.engine
            station.swap_engine(engine)
            self._previous, self._candidate = previous, self.worker.engine
            self.worker.set_engine(None, promoted=True)
            self._audit(
                "shadow_promote",
                {"model": old},
                {"model": engine.fingerprint, "golden": f"passed {len(run.rows)} samples"},
                why,
                who,
            )
            log.info("shadow candidate promoted", extra={"fields": {"model": engine.fingerprint[:16], "who": who}})
            return ShadowOutcome(
                "promote",
                True,
                f"candidate promoted ({len(run.rows)} golden samples pass)",
                engine.fingerprint,
                run.to_dict(),
            )

    def rollback(self, *, who: str, why: str = "") -> ShadowOutcome:
        """Put the production bundle from before the promotion back; the candidate returns to shadow mode."""
        with self._lock:
            previous = self._previous
            if previous is None:
                return self._refuse(
                    "rollback", "nothing to roll back: no promotion since the station started", who, why
                )
            current = self._station.engine.fingerprint
            self._station.swap_engine(previous)
            self.worker.set_engine(self._candidate, promoted=False)
            self._previous = self._candidate = None
            self._audit("shadow_rollback", {"model": current}, {"model": previous.fingerprint}, why, who)
            log.warning(
                "shadow promotion rolled back", extra={"fields": {"model": previous.fingerprint[:16], "who": who}}
            )
            return ShadowOutcome("rollback", True, "previous bundle back in production", previous.fingerprint)

    def _refuse(
        self, action: str, text: str, who: str, why: str, *, fix: str = "", golden: dict[str, Any] | None = None
    ) -> ShadowOutcome:
        full = f"{text}: {fix}" if fix else text
        log.error(f"shadow {action} refused", extra={"fields": {"error": full, "who": who}})
        self._audit(f"shadow_{action}_refused", None, None, f"{why} (refused: {full})".strip(), who)
        return ShadowOutcome(action, False, full, self._station.engine.fingerprint, golden)

    def _audit(self, action: str, old: object, new: object, why: str, who: str) -> None:
        if self._audit_path is not None:
            record_safely(self._audit_path, action, who=who, target=str(self.settings.model), old=old, new=new, why=why)
