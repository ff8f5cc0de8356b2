"""The PLC handshake: one state machine per camera, Qt-free, on an injected clock (docs/plc.md).

    Idle --Trigger(part id)--> Busy --verdict/error/deadline--> ResultReady --Acknowledge--> Idle

Every accepted trigger ends in exactly one result for its part id: OK, NG, UNSURE (the verdict), ERROR
(inspection failed), TIMEOUT (no verdict by `result_timeout_s` after the trigger) or BUSY (the lane was full).
Results wait in order until the PLC acknowledges them, one at a time: the head result is the one shown.

Policy when triggers come faster than inspection: a lane holds the part being inspected plus up to
`max_pending` more, triggered but not yet inspected, in order; a trigger beyond that is answered at once with
BUSY (error 103) for that part, so the PLC can always match a result to its part. Software-triggered cameras
get one part at a time (the next is released when the previous has a result). Hardware-triggered cameras (a
frame per line trigger, `trigger = "hardware"`) take the part ids in trigger order, one per frame; a part
whose frame never comes times out and is removed, so the next frame goes to the next part.

Transports (the OPC UA and MQTT sinks) call `trigger`/`acknowledge` and listen with `subscribe`; the `plc`
sink feeds records (`complete`) and runs `poll` (deadlines, heartbeat); the pipeline calls `claim` when a
frame arrives and `failed` when its inspection fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.live.record import FrameRecord

log = logging.getLogger(__name__)

MAX_PART_ID = 128  # characters
MAX_RESULTS = 10_000  # results waiting for acknowledgement per lane; beyond it the oldest go (counted, logged)


class HandshakeState(IntEnum):
    """What the PLC reads in `State` (OPC UA Int32, MQTT `state`)."""

    IDLE = 0
    BUSY = 1
    RESULT_READY = 2


class ResultCode(IntEnum):
    """`ResultState` values. Reserved for good: 1-6 (as listed); 7-99 for later verdicts; 0 = no result."""

    NONE = 0
    OK = 1
    NG = 2
    UNSURE = 3
    ERROR = 4
    TIMEOUT = 5
    BUSY = 6


class ErrorCode(IntEnum):
    """`ErrorCode` values (0 = no error); the text is in `ErrorText`."""

    NONE = 0
    INSPECTION_FAILED = 101  # the frame could not be inspected (model error, ROI outside the frame)
    TIMEOUT = 102  # no verdict before the deadline (camera down, frame dropped, inspection too slow)
    QUEUE_FULL = 103  # BUSY: max_pending parts were already waiting
    BAD_PART_ID = 104  # the trigger carried no (or a too long) part id
    UNKNOWN_CAMERA = 105  # the trigger named a camera the station does not have
    NOT_RUNNING = 106  # no pipeline is running (station starting or stopping)
    UNKNOWN_RECIPE = 107  # a recipe request named no recipe of the station config
    RECIPE_REFUSED = 108  # the recipe's bundle failed verification (checksum, signature, unreadable model)
    RECIPE_INVALID = 109  # the recipe does not fit the station (camera unknown, ROI unusable)
    BAD_LOT_ID = 110  # the lot id was longer than 64 characters or held control characters
    SELF_TEST_FAILED = 111  # the golden self-test failed: no part is inspected until an engineer acknowledges


VERDICT_CODES = {"OK": ResultCode.OK, "NG": ResultCode.NG, "UNSURE": ResultCode.UNSURE}


@dataclass(frozen=True)
class PlcResult:
    """One part's answer to the PLC."""

    camera: str
    part_id: str
    job_id: int  # per lane, from 1 at start: increases with every trigger (OPC 40100 JobId)
    code: ResultCode
    score: float = 0.0
    defect_type: str = ""
    error_code: ErrorCode = ErrorCode.NONE
    error_text: str = ""
    frame_id: int = 0
    run: str = ""
    model: str = ""
    triggered_at: float = 0.0  # the handshake's clock
    done_at: float = 0.0
    inference_ms: float = 0.0
    recipe: str = ""  # the recipe that judged the part (docs/plc.md#recipes)
    lot: str = ""

    def summary(self) -> dict:
        """JSON-ready (what the MQTT `plc/result` topic carries)."""
        return {
            "camera": self.camera,
            "part_id": self.part_id,
            "job_id": self.job_id,
            "result": self.code.name,
            "result_code": int(self.code),
            "score": round(self.score, 6),
            "defect_type": self.defect_type,
            "error_code": int(self.error_code),
            "error_text": self.error_text,
            "frame_id": self.frame_id,
            "run": self.run,
            "model": self.model,
            "recipe": self.recipe,
            "lot": self.lot,
            "latency_ms": round((self.done_at - self.triggered_at) * 1000, 3),
        }


@dataclass(frozen=True)
class LaneView:
    """What a transport shows for one camera: the state and the head result (None unless ResultReady)."""

    camera: str
    state: HandshakeState
    busy: bool  # a part is being inspected
    pending: int  # parts triggered, not yet released to the camera
    waiting: int  # results not yet acknowledged (the head one included)
    result: PlcResult | None
    new_result: bool = False  # `result` just became the head (publish it once)


@dataclass
class HandshakeStats:
    triggers: int = 0
    results: dict[str, int] = field(default_factory=lambda: {code.name: 0 for code in ResultCode if code})
    acknowledged: int = 0
    late: int = 0  # verdicts that came after their part had timed out (logged, not shown to the PLC)
    unclaimed_frames: int = 0  # frames of a PLC camera with no part waiting for them
    results_dropped: int = 0  # unacknowledged results pushed out by MAX_RESULTS
    heartbeat: int = 0


@dataclass
class _Part:
    part_id: str
    job_id: int
    triggered_at: float
    released: bool = False
    claimed_frame: int = 0


class _Lane:
    def __init__(self, camera: str, hardware: bool) -> None:
        self.camera = camera
        self.hardware = hardware
        self.jobs = 0
        self.pending: deque[_Part] = deque()  # accepted, not yet released to the camera
        self.in_flight: OrderedDict[str, _Part] = OrderedDict()  # key: job id as text (part ids may repeat)
        self.results: deque[PlcResult] = deque()

    def view(self, new_result: bool = False) -> LaneView:
        head = self.results[0] if self.results else None
        state = (
            HandshakeState.RESULT_READY
            if head
            else HandshakeState.BUSY
            if self.in_flight or self.pending
            else HandshakeState.IDLE
        )
        return LaneView(
            self.camera, state, bool(self.in_flight), len(self.pending), len(self.results), head, new_result
        )


Listener = Callable[[LaneView], None]
Release = Callable[[str], object]  # camera -> trigger it (a software-triggered camera grabs one frame)


class Handshake:
    """The station's PLC handshake: one lane per camera; thread-safe; listeners are called under its lock and
    must not block (they hand work to their own thread or loop)."""

    def __init__(
        self,
        *,
        release: Release,
        cameras: Callable[[], list[str]] | None = None,
        hardware: Callable[[str], bool] = lambda camera: False,
        result_timeout_s: float = 2.0,
        max_pending: int = 4,
        heartbeat_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if result_timeout_s <= 0 or max_pending < 0 or heartbeat_s <= 0:
            raise ValueError("result_timeout_s and heartbeat_s must be > 0, max_pending >= 0")
        self._release = release
        self._cameras = cameras
        self._hardware = hardware
        self.result_timeout_s = float(result_timeout_s)
        self.max_pending = int(max_pending)
        self.heartbeat_s = float(heartbeat_s)
        self._clock = clock
        self._lock = threading.RLock()
        self._lanes: dict[str, _Lane] = {}
        self._listeners: list[Listener] = []
        self._beat_listeners: list[Callable[[int], None]] = []
        self._next_beat = clock() + heartbeat_s
        self.stats = HandshakeStats()
        self.blocked: Callable[[], str] | None = None  # why triggers are refused ("" = not), e.g. the self-test

    # ------------------------------------------------------------------ transports
    def subscribe(self, listener: Listener, heartbeat: Callable[[int], None] | None = None) -> None:
        """Call `listener(view)` on every change of a lane (and `heartbeat(n)` every heartbeat_s)."""
        with self._lock:
            self._listeners.append(listener)
            if heartbeat is not None:
                self._beat_listeners.append(heartbeat)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def view(self, camera: str) -> LaneView:
        with self._lock:
            return self._lane(camera).view()

    def trigger(self, camera: str, part_id: str) -> PlcResult | None:
        """The PLC triggers `part_id` on `camera`. Returns the immediate result when the trigger cannot be
        taken (BUSY, ERROR for a bad part id or an unknown camera), None when the part was accepted."""
        part_id = str(part_id).strip()
        with self._lock:
            self.stats.triggers += 1
            lane = self._lane(camera)
            lane.jobs += 1
            part = _Part(part_id, lane.jobs, self._clock())
            known = self._cameras is None or camera in self._cameras()
            problem = None if known else (ErrorCode.UNKNOWN_CAMERA, f"no camera {camera!r} in this station")
            if problem is None and self.blocked is not None and (why := self.blocked()):
                problem = (ErrorCode.SELF_TEST_FAILED, why[:200])
            if problem is None and not part_id:
                problem = (ErrorCode.BAD_PART_ID, "the trigger carried no part id")
            if problem is None and len(part_id) > MAX_PART_ID:
                problem = (ErrorCode.BAD_PART_ID, f"part id longer than {MAX_PART_ID} characters")
            if problem is None and len(lane.pending) + len(lane.in_flight) > self.max_pending:
                problem = (ErrorCode.QUEUE_FULL, f"{self.max_pending} part(s) already waiting")
            if problem is not None:
                code = ResultCode.BUSY if problem[0] is ErrorCode.QUEUE_FULL else ResultCode.ERROR
                return self._finish(lane, part, code, error=problem)
            lane.pending.append(part)
            self._pump(lane)
            self._notify(lane)
            return None

    def acknowledge(self, camera: str) -> PlcResult | None:
        """The PLC has read the head result of `camera`: drop it, show the next (None when there was none)."""
        with self._lock:
            lane = self._lane(camera)
            if not lane.results:
                return None
            done = lane.results.popleft()
            self.stats.acknowledged += 1
            self._notify(lane, new_result=bool(lane.results))
            return done

    # ------------------------------------------------------------------ the pipeline
    def attach(self, pipeline: Any) -> None:
        """Hook a pipeline's frames to this handshake (SinkContext.bind calls this for every new pipeline)."""
        pipeline.claim_part = self.claim
        pipeline.on_failed = self.failed

    def claim(self, camera: str) -> str:
        """A frame of `camera` arrived: the part id it belongs to ("" when no part waits for one)."""
        with self._lock:
            lane = self._lanes.get(camera)
            part = None if lane is None else next((p for p in lane.in_flight.values() if not p.claimed_frame), None)
            if part is None:
                self.stats.unclaimed_frames += 1
                return ""
            part.claimed_frame = 1
            return part.part_id

    def complete(self, record: FrameRecord) -> None:
        """A verdict (from the `plc` sink): the result of the oldest in-flight part with the record's part id."""
        part_id = getattr(record, "part_id", "")
        if not part_id:
            return
        verdict = str(record.result.verdict.value)
        with self._lock:
            lane = self._lane(record.camera)
            part = self._take(lane, part_id)
            if part is None:
                self.stats.late += 1
                log.warning("plc: verdict for part %r of camera %s came after its deadline", part_id, record.camera)
                return
            self._finish(lane, part, VERDICT_CODES.get(verdict, ResultCode.ERROR), record=record)
            self._pump(lane)

    def failed(self, camera: str, part_id: str, message: str) -> None:
        """The pipeline could not inspect the frame of `part_id`: an ERROR result for it."""
        if not part_id:
            return
        with self._lock:
            lane = self._lane(camera)
            part = self._take(lane, part_id)
            if part is not None:
                self._finish(lane, part, ResultCode.ERROR, error=(ErrorCode.INSPECTION_FAILED, message[:200]))
                self._pump(lane)

    def poll(self) -> None:
        """Deadlines (TIMEOUT results) and the heartbeat; the `plc` sink calls this every few milliseconds."""
        now = self._clock()
        with self._lock:
            for lane in self._lanes.values():
                expired = [
                    p
                    for p in [*lane.in_flight.values(), *lane.pending]
                    if now - p.triggered_at >= self.result_timeout_s
                ]
                for part in expired:
                    lane.in_flight.pop(str(part.job_id), None)
                    if part in lane.pending:
                        lane.pending.remove(part)
                    where = "its frame was never inspected" if part.released else "it was still queued"
                    self._finish(
                        lane,
                        part,
                        ResultCode.TIMEOUT,
                        error=(ErrorCode.TIMEOUT, f"no verdict within {self.result_timeout_s:g} s ({where})"),
                    )
                if expired:
                    self._pump(lane)
            if now >= self._next_beat:
                self._next_beat = max(self._next_beat + self.heartbeat_s, now)
                self.stats.heartbeat += 1
                for beat in self._beat_listeners:
                    beat(self.stats.heartbeat)

    # ------------------------------------------------------------------ internals (lock held)
    def _lane(self, camera: str) -> _Lane:
        lane = self._lanes.get(camera)
        if lane is None:
            lane = self._lanes[camera] = _Lane(camera, bool(self._hardware(camera)))
        return lane

    def _take(self, lane: _Lane, part_id: str) -> _Part | None:
        for key, part in lane.in_flight.items():
            if part.part_id == part_id:
                del lane.in_flight[key]
                return part
        return None

    def _pump(self, lane: _Lane) -> None:
        """Release pending parts to the camera: all at once (hardware), else one at a time."""
        while lane.pending and (lane.hardware or not lane.in_flight):
            part = lane.pending.popleft()
            part.released = True
            lane.in_flight[str(part.job_id)] = part
            if not lane.hardware:
                try:
                    self._release(lane.camera)
                except Exception as exc:  # noqa: BLE001 (a failing trigger handler is this part's ERROR, never silence)
                    del lane.in_flight[str(part.job_id)]
                    self._finish(lane, part, ResultCode.ERROR, error=(ErrorCode.NOT_RUNNING, str(exc)[:200]))

    def _finish(
        self,
        lane: _Lane,
        part: _Part,
        code: ResultCode,
        *,
        record: FrameRecord | None = None,
        error: tuple[ErrorCode, str] | None = None,
    ) -> PlcResult:
        result = PlcResult(
            lane.camera, part.part_id, part.job_id, code, triggered_at=part.triggered_at, done_at=self._clock()
        )
        if record is not None:
            result = replace(
                result,
                score=float(record.result.score),
                defect_type=_defect_type(record),
                frame_id=record.frame_id,
                run=record.run,
                model=record.result.model_fingerprint,
                inference_ms=float(record.timings_ms.get("inference", 0.0)),
                recipe=record.recipe,
                lot=record.lot,
            )
        if error is not None:
            result = replace(result, error_code=error[0], error_text=error[1])
        self.stats.results[code.name] += 1
        lane.results.append(result)
        if len(lane.results) > MAX_RESULTS:
            lost = lane.results.popleft()
            self.stats.results_dropped += 1
            log.error(
                "plc: camera %s: result of part %r dropped unacknowledged (%d waiting)",
                lane.camera,
                lost.part_id,
                MAX_RESULTS,
            )
        self._notify(lane, new_result=len(lane.results) == 1)
        return result

    def _notify(self, lane: _Lane, new_result: bool = False) -> None:
        view = lane.view(new_result)
        for listener in self._listeners:
            try:
                listener(view)
            except Exception as exc:  # noqa: BLE001 (a transport's failure must not break the state machine)
                log.error("plc: listener failed for camera %s: %s", lane.camera, exc)


def _defect_type(record: FrameRecord) -> str:
    """DefectType for the PLC: the station typer's name for an NG part, else a classify bundle's class ("" = none)."""
    return record.result.defect_type or record.result.predicted_class or ""
