"""What the operator sees, computed from FrameRecords without Qt: counters, trend, recent parts, rates."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from inspector.live.record import FrameRecord


@dataclass
class Count:
    """Inspected / OK / NG / UNSURE of one camera (or the total) since the shift started."""

    ok: int = 0
    ng: int = 0
    unsure: int = 0  # could not be judged (a person looks); not in the yield's OK

    @property
    def inspected(self) -> int:
        return self.ok + self.ng + self.unsure

    @property
    def yield_pct(self) -> float | None:
        return 100.0 * self.ok / self.inspected if self.inspected else None


@dataclass
class Bucket:
    """One trend interval of one camera."""

    start: float  # wall clock
    n: int = 0
    ng: int = 0
    score_sum: float = 0.0
    score_max: float = float("-inf")

    @property
    def ng_rate(self) -> float:
        return self.ng / self.n if self.n else 0.0

    @property
    def score_mean(self) -> float:
        return self.score_sum / self.n if self.n else 0.0


class RateMeter:
    """Events per second over a sliding window, on an injected clock.

    The rate is (events - 1) over the span from the first to the last event in the window, which is exact
    for a steady line at any rate the window holds two events of; once the line stops (no event for longer
    than the mean interval), the span runs to now instead, so the rate decays to 0 as the window empties.
    """

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def tick(self, n: int = 1) -> None:
        now = self._clock()
        self._times.extend([now] * n)
        self._trim(now)

    def rate(self) -> float:
        now = self._clock()
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        first, last = self._times[0], self._times[-1]
        span = last - first
        if span <= 0:
            return 0.0
        intervals = len(self._times) - 1
        return intervals / span if now - last <= span / intervals else intervals / (now - first)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


@dataclass
class CameraStats:
    """Everything per camera the views draw: the newest record, counters, rates, trend and recent scores."""

    counts: Count = field(default_factory=Count)
    latest: FrameRecord | None = None
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    trend: deque[Bucket] = field(default_factory=lambda: deque(maxlen=60))
    inspected_rate: RateMeter = field(default_factory=RateMeter)


class LineStats:
    """Counters since the shift start, the NG gallery, the trend and recent scores for the threshold preview."""

    def __init__(
        self,
        cameras: Iterable[str],
        *,
        gallery_size: int = 24,
        recent: int = 500,
        bucket_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock, self._wall = clock, wall
        self.bucket_s = bucket_s
        self.cameras: dict[str, CameraStats] = {}
        for cam in cameras:
            self.add_camera(cam)
        self.gallery: deque[FrameRecord] = deque(maxlen=gallery_size)
        self.recent_scores: deque[float] = deque(maxlen=recent)
        self.shift_start = wall()
        self.ng_added = 0  # NG records ever added to the gallery (views compare it to redraw)

    def add_camera(self, cam: str) -> None:
        if cam not in self.cameras:
            self.cameras[cam] = CameraStats(inspected_rate=RateMeter(clock=self._clock))

    def ingest(self, records: Iterable[FrameRecord]) -> None:
        """Count records (oldest first) into counters, trend, gallery and recent scores."""
        for record in records:
            self.add_camera(record.camera)
            cam = self.cameras[record.camera]
            result = record.result
            if result.is_ng or result.is_unsure:  # both wait in the gallery for a person
                if result.is_ng:
                    cam.counts.ng += 1
                else:
                    cam.counts.unsure += 1
                self.gallery.append(record)
                self.ng_added += 1
            else:
                cam.counts.ok += 1
            cam.latest = record
            if "total" in record.timings_ms:
                cam.latency_ms.append(record.timings_ms["total"])
            cam.inspected_rate.tick()
            self.recent_scores.append(result.score)
            self._bucket(cam, record)

    def _bucket(self, cam: CameraStats, record: FrameRecord) -> None:
        start = record.captured_at - record.captured_at % self.bucket_s
        if not cam.trend or cam.trend[-1].start < start:
            cam.trend.append(Bucket(start))
        bucket = cam.trend[-1]
        bucket.n += 1
        bucket.ng += record.result.is_ng
        bucket.score_sum += record.result.score
        bucket.score_max = max(bucket.score_max, record.result.score)

    def total(self) -> Count:
        return Count(
            ok=sum(c.counts.ok for c in self.cameras.values()),
            ng=sum(c.counts.ng for c in self.cameras.values()),
            unsure=sum(c.counts.unsure for c in self.cameras.values()),
        )

    def reset(self) -> None:
        """A new shift: counters and trend start from zero; the gallery and recent scores stay."""
        for cam in self.cameras.values():
            cam.counts = Count()
            cam.trend.clear()
        self.shift_start = self._wall()

    def would_change(self, threshold: float, current: float) -> tuple[int, int]:
        """(OK parts that would become NG, NG parts that would become OK) among the recent parts."""
        to_ng = sum(1 for s in self.recent_scores if current >= s > threshold)
        to_ok = sum(1 for s in self.recent_scores if threshold >= s > current)
        return to_ng, to_ok

    @staticmethod
    def median(values: Iterable[float]) -> float | None:
        ordered = sorted(values)
        return ordered[len(ordered) // 2] if ordered else None
