"""The PLC handshake state machine on a fake clock: states, one result per part, deadline, BUSY, hardware lanes."""

from __future__ import annotations

import pytest

from inspector.live.handshake import ErrorCode, Handshake, HandshakeState, LaneView, ResultCode
from inspector.live.record import FrameRecord
from inspector.result import InspectionResult, verdict_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(camera: str, part_id: str, score: float, frame_id: int = 1) -> FrameRecord:
    result = InspectionResult(
        score=score,
        threshold=0.5,
        verdict=verdict_for(score, 0.5),
        model_fingerprint="m1",
        predicted_class="scratch" if score > 0.5 else None,
    )
    return FrameRecord(
        station="st",
        camera=camera,
        frame_id=frame_id,
        captured_at=0.0,
        result=result,
        timings_ms={"inference": 3.0},
        part_id=part_id,
    )


@pytest.fixture()
def setup() -> tuple[Handshake, Clock, list[str], list[LaneView]]:
    clock, released, views = Clock(), [], []
    handshake = Handshake(
        release=released.append,
        cameras=lambda: ["cam", "hw"],
        hardware=lambda c: c == "hw",
        result_timeout_s=1.0,
        max_pending=2,
        clock=clock,
    )
    handshake.subscribe(views.append)
    return handshake, clock, released, views


def test_full_cycle_idle_busy_result_ready_ack_idle(setup) -> None:
    handshake, clock, released, views = setup
    assert handshake.view("cam").state is HandshakeState.IDLE
    assert handshake.trigger("cam", "P-1") is None
    assert released == ["cam"] and handshake.view("cam").state is HandshakeState.BUSY
    assert handshake.claim("cam") == "P-1"
    clock.now += 0.2
    handshake.complete(record("cam", "P-1", 0.9))
    view = handshake.view("cam")
    assert view.state is HandshakeState.RESULT_READY and view.result is not None
    assert (view.result.part_id, view.result.code, view.result.defect_type) == ("P-1", ResultCode.NG, "scratch")
    assert view.result.summary()["latency_ms"] == pytest.approx(200.0)
    assert views[-1].new_result
    assert handshake.acknowledge("cam").part_id == "P-1"
    assert handshake.view("cam").state is HandshakeState.IDLE
    assert handshake.acknowledge("cam") is None  # nothing to acknowledge: no state change


def test_one_part_at_a_time_then_queue_then_busy(setup) -> None:
    handshake, _, released, _ = setup
    for n in range(3):  # one in flight + max_pending = 2 waiting
        assert handshake.trigger("cam", f"P{n}") is None
    busy = handshake.trigger("cam", "P3")
    assert busy is not None and busy.code is ResultCode.BUSY and busy.error_code is ErrorCode.QUEUE_FULL
    assert released == ["cam"]  # only P0 went to the camera
    assert handshake.claim("cam") == "P0"
    handshake.complete(record("cam", "P0", 0.1))
    assert released == ["cam", "cam"] and handshake.claim("cam") == "P1"
    # results in order of completion, each shown until acknowledged: BUSY for P3 first, then P0
    assert [handshake.acknowledge("cam").part_id for _ in range(2)] == ["P3", "P0"]


def test_deadline_gives_timeout_never_silence_and_late_verdict_is_ignored(setup) -> None:
    handshake, clock, _, _ = setup
    handshake.trigger("cam", "slow")
    handshake.trigger("cam", "queued")
    assert handshake.claim("cam") == "slow"
    clock.now += 1.0
    handshake.poll()
    codes = []
    while (done := handshake.acknowledge("cam")) is not None:
        codes.append((done.part_id, done.code, done.error_code))
    assert codes == [("slow", ResultCode.TIMEOUT, ErrorCode.TIMEOUT), ("queued", ResultCode.TIMEOUT, ErrorCode.TIMEOUT)]
    handshake.complete(record("cam", "slow", 0.1))  # the verdict after the deadline is not a second result
    assert handshake.view("cam").result is None and handshake.stats.late == 1


def test_inspection_failure_is_an_error_result(setup) -> None:
    handshake, _, _, _ = setup
    handshake.trigger("cam", "P1")
    handshake.failed("cam", handshake.claim("cam"), "inference failed: NaN score")
    result = handshake.view("cam").result
    assert (result.code, result.error_code, result.error_text) == (
        ResultCode.ERROR,
        ErrorCode.INSPECTION_FAILED,
        "inference failed: NaN score",
    )


@pytest.mark.parametrize(
    ("camera", "part", "error"),
    [
        ("cam", "", ErrorCode.BAD_PART_ID),
        ("cam", "x" * 200, ErrorCode.BAD_PART_ID),
        ("nope", "P1", ErrorCode.UNKNOWN_CAMERA),
    ],
)
def test_bad_triggers_are_answered_with_an_error(setup, camera: str, part: str, error: ErrorCode) -> None:
    handshake, _, released, _ = setup
    result = handshake.trigger(camera, part)
    assert result is not None and result.code is ResultCode.ERROR and result.error_code is error
    assert handshake.view(camera).result == result and released == []


def test_hardware_lane_takes_part_ids_in_order_and_a_lost_frame_times_out_alone(setup) -> None:
    handshake, clock, released, _ = setup
    for n in range(3):
        handshake.trigger("hw", f"H{n}")
    assert released == []  # the line triggers the camera, not the handshake
    assert handshake.claim("hw") == "H0"
    handshake.complete(record("hw", "H0", 0.1))
    clock.now += 0.5
    handshake.poll()  # before the deadline: nothing times out
    assert handshake.claim("hw") == "H1"
    handshake.complete(record("hw", "H1", 0.1))
    clock.now += 0.5
    handshake.poll()  # H2 has no frame by its deadline
    parts = [(r.part_id, r.code) for r in iter(lambda: handshake.acknowledge("hw"), None)]
    assert parts == [("H0", ResultCode.OK), ("H1", ResultCode.OK), ("H2", ResultCode.TIMEOUT)]
    assert handshake.claim("hw") == "" and handshake.stats.unclaimed_frames == 1


def test_heartbeat_every_period(setup) -> None:
    handshake, clock, _, _ = setup
    beats: list[int] = []
    handshake.subscribe(lambda view: None, heartbeat=beats.append)
    for _ in range(5):
        clock.now += 0.5
        handshake.poll()
    assert beats == [1, 2]
