"""Drift and SPC per camera: EWMA and CUSUM on good-part scores, Bernoulli CUSUM on the NG and UNSURE rates.

Purely per part (no clock), deterministic: `DriftMonitor.observe(camera, result, engine)` is called by the
pipeline for every verdict; `state()` is what the snapshot, /metrics (`inspector_alarm{alarm="drift_<camera>_
<stat>"}`), MQTT, OPC UA and the GUI show. Drift is an alarm, never a readiness failure.

- **Score** (parts judged OK): x = ln(score / threshold) (score floored at `FLOOR` x threshold), standardised
  by the in-control mean and sd. These come from the bundle's good calibration scores
  (`threshold_method.deployed.good_scores`: quantiles of the out-of-fold and validation good scores) at or below
  the threshold in use, the same truncation an OK part has; a bundle without them (or with fewer than
  `MIN_CALIBRATION`) uses the first `warmup` OK parts of the camera instead (no score alarm before). z is clipped
  to +-`Z_CLIP` so one odd part cannot alarm alone. Two-sided CUSUM (reference k, limit h, in sd) and EWMA
  (lambda, limits +-L asymptotic sd): `score_up` / `score_down` while either is beyond its limit.
- **NG and UNSURE rates** (every part): in-control rate p0 from the first `rate_warmup` parts ((count + 1) /
  (n + 2); for NG at least the bundle's expected false-reject rate); an upper Bernoulli log-likelihood CUSUM
  for p1 = `rate_factor` x p0 with h = ln(`rate_arl0`) (in-control ARL >= rate_arl0, Lorden's bound):
  `ng_rate` / `unsure_rate`. Their EWMA (lambda `rate_lambda`) is shown with its limits but does not alarm (at
  small p0 a Bernoulli EWMA's false-alarm rate is far above its nominal one).
- An alarm is raised when a statistic passes its limit and holds until it is back below half the limit: it
  clears itself when the process is back (each CUSUM is capped at 2 h, so within about 1.5 h / k in-control
  parts), without flickering around the limit. A new model or threshold starts the charts over.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.engine import Engine
    from inspector.result import InspectionResult

FLOOR = 1e-3  # a score below FLOOR x threshold counts as FLOOR x threshold (ln of 0 is not a number)
Z_CLIP = 4.0
MIN_CALIBRATION = 20
SD_FLOOR = 1e-3
STATS = ("score_up", "score_down", "ng_rate", "unsure_rate")


@dataclass(frozen=True)
class DriftParams:
    """The chart settings (`[drift]` in the station config)."""

    k: float = 0.5  # CUSUM reference, in sd (half the shift it is tuned for: 1 sd)
    h: float = 10.0  # CUSUM decision limit, in sd
    ewma_lambda: float = 0.1
    ewma_l: float = 4.0  # EWMA limits, in asymptotic sd of the EWMA
    warmup: int = 200  # OK parts for the score baseline when the bundle has no calibration scores
    rate_warmup: int = 500  # parts for the in-control NG and UNSURE rates
    rate_factor: float = 2.0  # the rate CUSUM is tuned to detect p0 -> rate_factor x p0
    rate_arl0: float = 10000.0  # in-control parts between false rate alarms, at least
    rate_lambda: float = 0.01


@dataclass(frozen=True)
class Baseline:
    """In-control mean and sd of x = ln(score / threshold), and where they came from."""

    mean: float
    sd: float
    source: str  # "calibration (n=...)" or "warm-up (n=...)"


def statistic(score: float, threshold: float) -> float:
    """x = ln(score / threshold), the score floored at FLOOR x threshold."""
    if threshold <= 0:
        return 0.0
    return math.log(max(float(score), FLOOR * threshold) / threshold)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    return mean, max(SD_FLOOR, math.sqrt(var))


def calibration_baseline(threshold_method: Any, threshold: float) -> Baseline | None:
    """The baseline from a bundle's good calibration scores at or below `threshold` (None: too few or none)."""
    deployed = threshold_method.get("deployed") if isinstance(threshold_method, dict) else None
    scores = deployed.get("good_scores") if isinstance(deployed, dict) else None
    if not isinstance(scores, list):
        return None
    kept = [statistic(s, threshold) for s in scores if isinstance(s, (int, float)) and 0 <= s <= threshold]
    if len(kept) < MIN_CALIBRATION:
        return None
    mean, sd = _mean_sd(kept)
    return Baseline(mean, sd, f"calibration (n={len(kept)})")


def _expected_frr(threshold_method: Any) -> float:
    deployed = threshold_method.get("deployed") if isinstance(threshold_method, dict) else None
    value = deployed.get("expected_frr") if isinstance(deployed, dict) else None
    return float(value) if isinstance(value, (int, float)) and 0 <= value < 0.5 else 0.0


@dataclass(frozen=True)
class ChartState:
    """One statistic's chart: the EWMA with its limits and the CUSUM(s) with theirs."""

    ready: bool  # False while the baseline is being learnt (warm-up): no alarm yet
    baseline: str
    center: float  # in-control mean (score: of z, so 0; rates: p0)
    ewma: float
    ewma_low: float
    ewma_high: float
    cusum_up: float
    cusum_down: float  # 0 where only the upper side is watched (rates)
    limit: float  # the CUSUM decision limit h
    p1: float = 0.0  # rates: the shifted rate the CUSUM is tuned to detect


@dataclass(frozen=True)
class CameraDrift:
    """One camera's drift charts, its active alarms, and the score limits in score units (for the trend chart)."""

    camera: str
    parts: int = 0
    score: ChartState | None = None
    ng_rate: ChartState | None = None
    unsure_rate: ChartState | None = None
    alarms: tuple[str, ...] = ()  # "drift_<camera>_<stat>"
    score_center: float | None = None  # exp(mean) x threshold
    score_limits: tuple[float, float] | None = None  # the EWMA limits as scores
    alarms_raised: dict[str, int] = field(default_factory=dict)  # times each alarm was raised since the start


class _RateChart:
    def __init__(self, params: DriftParams, floor: float = 0.0) -> None:
        self.params, self.floor = params, floor
        self.n = self.count = 0
        self.p0 = self.p1 = 0.0
        self.up = self.down = 0.0
        self.ewma = 0.0
        self.s = 0.0
        self.h = math.log(params.rate_arl0)

    def observe(self, hit: bool) -> None:
        p = self.params
        if self.n < p.rate_warmup:
            self.n += 1
            self.count += hit
            if self.n == p.rate_warmup:
                self.p0 = max(self.floor, (self.count + 1) / (self.n + 2))
                self.p1 = min(0.5, p.rate_factor * self.p0)
                self.p1 = max(self.p1, min(0.999, self.p0 * 1.01))
                self.up = math.log(self.p1 / self.p0)
                self.down = math.log((1 - self.p1) / (1 - self.p0))
                self.ewma = self.p0
            return
        self.ewma = p.rate_lambda * hit + (1 - p.rate_lambda) * self.ewma
        self.s = min(2 * self.h, max(0.0, self.s + (self.up if hit else self.down)))

    @property
    def ready(self) -> bool:
        return self.n >= self.params.rate_warmup

    def alarm(self, active: bool = False) -> bool:
        """Above h; an active alarm holds until the CUSUM is back below h / 2."""
        return self.ready and self.s > (self.h / 2 if active else self.h)

    def state(self) -> ChartState:
        p = self.params
        width = p.ewma_l * math.sqrt(self.p0 * (1 - self.p0) * p.rate_lambda / (2 - p.rate_lambda))
        source = f"warm-up (n={self.n})"
        return ChartState(
            self.ready,
            source,
            self.p0,
            self.ewma,
            max(0.0, self.p0 - width),
            self.p0 + width,
            self.s,
            0.0,
            self.h,
            self.p1,
        )


class _ScoreChart:
    def __init__(self, params: DriftParams, baseline: Baseline | None) -> None:
        self.params, self.baseline = params, baseline
        self._warm: list[float] = []
        self.ewma = self.up = self.down = 0.0
        self.width = params.ewma_l * math.sqrt(params.ewma_lambda / (2 - params.ewma_lambda))

    def observe(self, x: float) -> None:
        p = self.params
        if self.baseline is None:
            self._warm.append(x)
            if len(self._warm) >= p.warmup:
                mean, sd = _mean_sd(self._warm)
                self.baseline = Baseline(mean, sd, f"warm-up (n={len(self._warm)})")
                self._warm = []
            return
        z = max(-Z_CLIP, min(Z_CLIP, (x - self.baseline.mean) / self.baseline.sd))
        self.ewma = p.ewma_lambda * z + (1 - p.ewma_lambda) * self.ewma
        self.up = min(2 * p.h, max(0.0, self.up + z - p.k))
        self.down = min(2 * p.h, max(0.0, self.down - z - p.k))

    def alarms(self, active: tuple[bool, bool] = (False, False)) -> tuple[bool, bool]:
        """(up, down); an active alarm holds until its statistics are back below half their limits."""
        if self.baseline is None:
            return False, False
        up_on, down_on = active
        h, w = self.params.h / (2 if up_on else 1), self.width / (2 if up_on else 1)
        up = self.up > h or self.ewma > w
        h, w = self.params.h / (2 if down_on else 1), self.width / (2 if down_on else 1)
        return up, self.down > h or self.ewma < -w

    def state(self) -> ChartState:
        source = self.baseline.source if self.baseline else f"warm-up ({len(self._warm)}/{self.params.warmup})"
        return ChartState(
            self.baseline is not None,
            source,
            0.0,
            self.ewma,
            -self.width,
            self.width,
            self.up,
            self.down,
            self.params.h,
        )


class _Camera:
    def __init__(self, camera: str, params: DriftParams, baseline: Baseline | None, ng_floor: float) -> None:
        self.camera = camera
        self.parts = 0
        self.score = _ScoreChart(params, baseline)
        self.ng = _RateChart(params, ng_floor)
        self.unsure = _RateChart(params)
        self.active: set[str] = set()
        self.raised: dict[str, int] = {}

    def observe(self, verdict: str, score: float, threshold: float) -> None:
        self.parts += 1
        if verdict == "OK":
            self.score.observe(statistic(score, threshold))
        self.ng.observe(verdict == "NG")
        self.unsure.observe(verdict == "UNSURE")
        up, down = self.score.alarms(("score_up" in self.active, "score_down" in self.active))
        ng, unsure = self.ng.alarm("ng_rate" in self.active), self.unsure.alarm("unsure_rate" in self.active)
        now = {
            name
            for name, on in (("score_up", up), ("score_down", down), ("ng_rate", ng), ("unsure_rate", unsure))
            if on
        }
        for stat in now - self.active:
            self.raised[stat] = self.raised.get(stat, 0) + 1
        self.active = now

    def state(self, threshold: float) -> CameraDrift:
        center = limits = None
        base = self.score.baseline
        if base is not None:
            center = threshold * math.exp(base.mean)
            width = self.score.width * base.sd
            limits = (threshold * math.exp(base.mean - width), threshold * math.exp(base.mean + width))
        return CameraDrift(
            self.camera,
            self.parts,
            self.score.state(),
            self.ng.state(),
            self.unsure.state(),
            tuple(alarm_name(self.camera, s) for s in STATS if s in self.active),
            center,
            limits,
            {alarm_name(self.camera, s): n for s, n in sorted(self.raised.items())},
        )


def alarm_name(camera: str, stat: str) -> str:
    return f"drift_{camera}_{stat}"


class DriftMonitor:
    """Every camera's charts. The baseline follows the engine: a new model or threshold starts them over."""

    def __init__(self, params: DriftParams | None = None) -> None:
        self.params = params or DriftParams()
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}
        self._key: tuple[str, float] | None = None
        self._baseline: Baseline | None = None
        self._ng_floor = 0.0
        self._threshold = 1.0

    def rebase(self, threshold_method: Any, threshold: float, fingerprint: str = "") -> None:
        """Start over with the calibration of a model (its `threshold_method`) at `threshold`."""
        with self._lock:
            self._key = (fingerprint, float(threshold))
            self._threshold = float(threshold)
            self._baseline = calibration_baseline(threshold_method, threshold)
            self._ng_floor = _expected_frr(threshold_method)
            self._cameras = {}

    def observe(self, camera: str, result: InspectionResult, engine: Engine | None = None) -> None:
        """One part's verdict and score; `engine` (the one that judged it) rebases the charts when it changed."""
        if engine is not None and self._key != (engine.fingerprint, float(engine.threshold)):
            self.rebase(engine.bundle.metadata.threshold_method, engine.threshold, engine.fingerprint)
        self.record(camera, result.verdict.value, result.score)

    def record(self, camera: str, verdict: str, score: float) -> None:
        """One part by its verdict ("OK", "NG", "UNSURE") and score (the Qt- and engine-free entry point)."""
        with self._lock:
            cam = self._cameras.get(camera)
            if cam is None:
                cam = self._cameras[camera] = _Camera(camera, self.params, self._baseline, self._ng_floor)
            cam.observe(verdict, score, self._threshold)

    def state(self) -> dict[str, CameraDrift]:
        with self._lock:
            return {cam: c.state(self._threshold) for cam, c in sorted(self._cameras.items())}

    def alarms(self) -> list[str]:
        return sorted(a for c in self.state().values() for a in c.alarms)
