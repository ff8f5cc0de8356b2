"""The one place a station is wired: engine, pipeline, sinks and the sinks' context from a StationConfig.

`build_station(config)` returns a `Station`. The daemon and the GUI both go through it and wire nothing
themselves. The sinks are built once and bound to the station's `SinkContext`, which always points at the
pipeline running now: `Station.restart()` (new camera settings) and `Station.swap_engine()` (a new model or
threshold) keep /readyz, /metrics and the MQTT and OPC UA triggers on the running pipeline. The golden-sample
self-test (`self_test`, inspector.live.golden; the running recipe's set) runs at `start()`, after every
`swap_engine()`, on the `[golden]` schedule (`golden_timer`, inspector.live.golden_schedule) and on demand
(`run_self_test`); a failure holds readiness and PLC triggers until `acknowledge_self_test()` (or `inspector
golden ack`). Alarm transitions (inspector.live.alarms: drift, a sink degraded, the self-test block, a camera
down) are noticed by one `AlarmWatch` and handed to the sinks (the SQLite log keeps them for `inspector report`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from inspector.bundle.session import load_bundle
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.live.alarms import AlarmEvent, AlarmLog, AlarmWatch
from inspector.live.config import CameraConfig, StationConfig
from inspector.live.drift import DriftMonitor
from inspector.live.golden import GoldenRun, GoldenSet, SelfTest
from inspector.live.golden_schedule import GoldenTimer
from inspector.live.pipeline import Pipeline
from inspector.live.preflight import check_provider
from inspector.live.recipes import Changeover, Roi, recipe_config, recipe_rois
from inspector.live.shadow import Shadow, ShadowControl, ShadowOutcome, candidate_config
from inspector.live.sinks import sink_class
from inspector.live.sinks.base import Sink, SinkContext
from inspector.live.sinks.extras import missing
from inspector.live.snapshot import PipelineSnapshot
from inspector.live.sources import Source
from inspector.typer import Typer

log = logging.getLogger(__name__)


def build_engine(config: StationConfig, path: Path | None = None) -> Engine:
    """Verify the bundle at `path` (default: the config's; signed by a trusted key when the config lists any)
    and the `[model] typer` (verified the same way), and wrap them in an engine."""
    check_provider(config)
    bundle = load_bundle(
        path or config.model_path,
        provider=config.provider or None,
        threads=config.threads or None,
        spin=config.model.spin,
        trusted_keys=config.model.trusted_keys,
    )  # listed keys: signed bundles only
    typer = None
    if config.model.typer is not None:
        typer = Typer(
            load_bundle(
                config.model.typer,
                provider=config.provider or None,
                threads=config.threads or None,
                spin=config.model.spin,
                trusted_keys=config.model.trusted_keys,
            ),
            max_batch=config.max_batch,
        )
    engine = Engine(
        bundle,
        threshold=config.threshold,
        max_batch=config.max_batch,
        tightening=config.verdict.tightening(),
        typer=typer,
    )
    for ignored in engine.gates.ignored:  # [verdict] may only tighten the bundle's gates
        log.warning("verdict setting has no effect", extra={"fields": {"setting": ignored}})
    return engine


def build_sinks(config: StationConfig, context: SinkContext) -> list[Sink]:
    """One sink per configured `[sinks.<kind>]`, each module imported only when configured."""
    sinks = []
    for kind, settings in config.sinks.items():
        try:
            cls = sink_class(kind)
        except KeyError as exc:
            raise InspectorError(
                f"{config.path}: sinks.{kind}: this Inspector has no {kind} sink",
                f"remove [sinks.{kind}] or update Inspector",
            ) from exc
        except ModuleNotFoundError as exc:
            problem, fix = missing(kind, exc.name)
            raise InspectorError(f"{config.path}: sinks.{kind}: {problem}", fix) from exc
        sinks.append(cls.from_config(settings, context))
    return sinks


class Station:
    """A station's engine, sinks and current pipeline. `context` is the stable object the sinks hold: it
    survives restarts and model swaps, and always answers for `pipeline` (the running one)."""

    def __init__(
        self,
        config: StationConfig,
        engine: Engine,
        sinks: Sequence[Sink],
        context: SinkContext,
        *,
        cameras: Iterable[CameraConfig] | None = None,
        clock: Callable[[], float] = time.monotonic,
        source_factories: dict[str, Callable[[], Source]] | None = None,
        camera_sleep: Callable[[float], None] | None = None,
        shadow: Shadow | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.engine = engine
        self.sinks = list(sinks)
        self.context = context
        self.recipe = config.recipe  # the running recipe and lot, kept across restarts (docs/plc.md#recipes)
        self.lot = ""
        self._clock = clock
        self._source_factories = source_factories
        self._camera_sleep = camera_sleep
        if cameras is None:  # the start recipe's ROIs
            rois = recipe_rois(config, self.recipe)
            cameras = [cam.model_copy(update={"roi": rois[cam.id]}) for cam in config.cameras]
        self.self_test = SelfTest(GoldenSet(config.data_dir / "golden"), audit_path=config.data_dir / "audit.jsonl")
        self.golden_timer = GoldenTimer(config.golden, self.run_self_test, monotonic=clock)  # [golden] schedule
        context.golden = self.run_self_test  # MQTT `<prefix>/<station>/golden/run`, OPC UA `RunSelfTest`
        context.self_test = self.self_test
        if context.handshake is not None:  # PLC triggers are refused (error 111) while the self-test blocks
            context.handshake.blocked = self.self_test.blocking
        audit = config.data_dir / "audit.jsonl" if Path(config.path).is_file() else None  # no file: no trail
        self.shadow = ShadowControl(self, shadow, build_engine, audit_path=audit) if shadow is not None else None
        context.shadow = self.shadow
        self.drift = DriftMonitor()  # SPC per camera, kept across restarts; a new model/threshold starts over
        self.pipeline = self._new_pipeline(list(cameras))
        self.changeover = Changeover(self, build_engine, audit_path=audit)
        context.recipes = self.changeover
        self.alarms = AlarmWatch(AlarmLog(self._alarm, wall=wall), self.snapshot, self.self_test.blocking)

    def _alarm(self, event: AlarmEvent) -> None:
        for sink in self.sinks:  # the SQLite log keeps it; the other sinks show the live set their own way
            sink.alarm(event)

    def _new_pipeline(self, cameras: list[CameraConfig]) -> Pipeline:
        pipeline = Pipeline(
            self.engine,
            cameras,
            self.sinks,
            station=self.config.station,
            queue_size=self.config.queue_size,
            max_batch=self.config.max_batch,
            clock=self._clock,
            source_factories=self._source_factories,
            camera_sleep=self._camera_sleep,
        )
        pipeline.recipe, pipeline.lot = self.recipe, self.lot
        pipeline.holds = self.self_test.reasons
        pipeline.drift = self.drift
        pipeline.shadow = self.shadow.worker if self.shadow is not None else None
        self.context.bind(pipeline)
        return pipeline

    def start(self) -> None:
        """Run the golden self-test, then start the sinks, the inference thread and the cameras."""
        self.self_test.check(self.engine, "start", recipe=self.recipe)
        self.pipeline.start()
        self.alarms.start()
        self.golden_timer.start()
        if self.shadow is not None:
            self.shadow.worker.start()

    def stop(self, timeout: float = 4.0) -> bool:
        """Release the cameras, finish the batch in flight, drain the sinks; True when all in time."""
        self.golden_timer.stop(timeout)
        self.alarms.stop(timeout)  # every active alarm cleared ("station stopped") before the sinks drain
        stopped = self.pipeline.stop(timeout)
        return (self.shadow.worker.stop(timeout) if self.shadow is not None else True) and stopped

    def rebuild(self, cameras: Iterable[CameraConfig]) -> Pipeline:
        """A new pipeline (not started) for new camera settings, with the same engine and sinks, and the
        context bound to it. Stop the running one first (`stop()`), start this one with `start()`."""
        self.pipeline = self._new_pipeline(list(cameras))
        return self.pipeline

    def restart(self, cameras: Iterable[CameraConfig], timeout: float = 4.0) -> bool:
        """Stop, rebuild with `cameras` and start; returns whether the old pipeline stopped cleanly."""
        clean = self.stop(timeout)
        self.rebuild(cameras)
        self.start()
        return clean

    def swap_engine(
        self, engine: Engine, *, recipe: str | None = None, rois: dict[str, Roi | None] | None = None
    ) -> None:
        """Use a new (already verified) engine from the next batch on; kept across restarts. A recipe
        changeover (`self.changeover.select`) passes its name and ROIs too: all three change at once."""
        self.pipeline.swap_engine(engine, recipe=recipe, rois=rois)
        self.engine = engine
        if recipe is not None:
            self.recipe = recipe
        trigger = "model swap" if recipe is None else "recipe changeover"
        self.self_test.check(engine, trigger, recipe=self.recipe)
        self.alarms.tick()

    def set_cameras(self, cameras: list[CameraConfig]) -> None:
        """Reopen each camera whose settings differ from the running ones (a recipe's exposure or gain); the
        sinks, the PLC's OPC UA server included, and the other cameras keep running."""
        for cam in cameras:
            running = self.pipeline.cameras.get(cam.id)
            if running is not None and running.config != cam:
                self.pipeline.replace_camera(cam)

    def promote_shadow(self, *, who: str, why: str = "") -> ShadowOutcome:
        """Swap the `[shadow]` candidate into production once it passes the golden self-test (audit entry)."""
        if self.shadow is None:
            return ShadowOutcome("promote", False, "no [shadow] candidate configured", self.engine.fingerprint)
        return self.shadow.promote(who=who, why=why)

    def rollback(self, *, who: str, why: str = "") -> ShadowOutcome:
        """Put back the bundle that ran before `promote_shadow` (audit entry)."""
        if self.shadow is None:
            return ShadowOutcome("rollback", False, "no [shadow] candidate configured", self.engine.fingerprint)
        return self.shadow.rollback(who=who, why=why)

    def run_self_test(self, trigger: str) -> GoldenRun | None:
        """Run the running recipe's golden set on the running engine now (schedule, PLC, GUI); None: no samples."""
        outcome = self.self_test.check(self.engine, trigger, recipe=self.recipe)
        self.alarms.tick()  # a block is logged when it happens, not only at the next tick
        return outcome

    def acknowledge_self_test(self, *, who: str, why: str = "") -> bool:
        """An engineer accepts a failed golden self-test (audit entry): ready again; False when not blocked."""
        done = self.self_test.acknowledge(who=who, why=why)
        self.alarms.tick()
        return done

    def set_lot(self, lot: str) -> None:
        """The lot stamped on every record from the next batch on (`self.changeover.set_lot` audits it)."""
        self.lot = lot
        self.pipeline.set_lot(lot)

    def snapshot(self) -> PipelineSnapshot:
        return self.pipeline.snapshot()


def build_station(
    config: StationConfig,
    *,
    engine: Engine | None = None,
    extra_sinks: Sequence[Sink] = (),
    config_sinks: bool = True,
    cameras: Iterable[CameraConfig] | None = None,
    clock: Callable[[], float] = time.monotonic,
    source_factories: dict[str, Callable[[], Source]] | None = None,
    camera_sleep: Callable[[float], None] | None = None,
    wall: Callable[[], float] = time.time,
) -> Station:
    """Build a station from `config`: the engine (unless given), `extra_sinks` (the GUI's) plus the config's
    `[sinks.*]` (unless `config_sinks` is False), their context and a pipeline bound to it (not started).
    Raises InspectorError for a sink that cannot be built and BundleError for a model that cannot be used."""
    engine = engine if engine is not None else build_engine(recipe_config(config, config.recipe))
    context = SinkContext(station=config.station)
    sinks = [*extra_sinks, *(build_sinks(config, context) if config_sinks else [])]
    shadow = None
    if config.shadow is not None:  # the candidate: one onnxruntime thread, at lower OS priority
        shadow = Shadow(
            build_engine(candidate_config(config, config.shadow, threads=1)),
            config.data_dir / "shadow",
            nice=config.shadow.nice,
        )
    return Station(
        config,
        engine,
        sinks,
        context,
        cameras=cameras,
        clock=clock,
        source_factories=source_factories,
        camera_sleep=camera_sleep,
        shadow=shadow,
        wall=wall,
    )
