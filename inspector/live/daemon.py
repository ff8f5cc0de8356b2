"""`inspector daemon --config station.toml`: the headless inspection service for an industrial PC.

systemd Type=notify: READY=1 once the model is loaded, every camera is up, every sink opened and the
last inspection gave a verdict; WATCHDOG=1 at half of WatchdogSec, and only while verdicts really flow;
STOPPING=1 on SIGTERM/SIGINT, after which the cameras are released, the batch in flight is finished and
the sinks drained within STOP_BUDGET_S; the `stopped` line says clean=false, with the records each sink
could not write, when anything was lost. SIGHUP reloads the model from the config's path: any bundle
that cannot be loaded (tampered, malformed, or a loader bug) is refused and the running one keeps going.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import threading
import time
from pathlib import Path

from inspector.audit import AuditLog
from inspector.engine import Engine
from inspector.errors import InspectorError
from inspector.live.config import StationConfig, load_config
from inspector.live.logs import setup_logging
from inspector.live.notify import Notifier
from inspector.live.pipeline import Pipeline
from inspector.live.preflight import preflight, threshold_warnings
from inspector.live.recipes import recipe_config
from inspector.live.sinks.base import Sink
from inspector.live.station import build_engine, build_station

log = logging.getLogger("inspector.daemon")
STOP_BUDGET_S = 4.5  # of the 5 s a SIGTERM allows


def warn(warnings: list[str]) -> None:
    for text in warnings:
        log.warning("check", extra={"fields": {"warning": text}})


class Daemon:
    """Runs the station `build_station` wires: signals, sd_notify and model reloads."""

    def __init__(self, config: StationConfig, *, notifier: Notifier | None = None) -> None:
        self.config = config
        self.notifier = notifier or Notifier.from_env()
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        engine = build_engine(recipe_config(config, config.recipe))
        warn(preflight(config, engine.bundle))
        self.station = build_station(config, engine=engine)
        self.ready_sent = False

    @property
    def pipeline(self) -> Pipeline:
        return self.station.pipeline

    @property
    def sinks(self) -> list[Sink]:
        return self.station.sinks

    def _load_engine(self, path: Path) -> Engine:
        return build_engine(recipe_config(self.config, self.station.recipe), path)

    def reload_model(self, path: str | Path | None = None) -> bool:
        """Verify a new bundle and swap it in; on any failure keep the running model and log why. Default: the
        running recipe's bundle (`[model]` when no recipe runs)."""
        path = Path(path) if path else recipe_config(self.config, self.station.recipe).model_path
        try:
            engine = self._load_engine(path)
        except Exception as exc:  # noqa: BLE001 (a reload must never take the station down, whatever the loader raises)
            message, fix = (
                (exc.message, exc.fix)
                if isinstance(exc, InspectorError)
                else (f"{type(exc).__name__}: {exc}", "re-export the model; report this as a bug")
            )
            log.error(
                "model reload refused; the running model keeps going",
                extra={
                    "fields": {
                        "path": str(path),
                        "error": message,
                        "fix": fix,
                        "running": self.pipeline.engine.fingerprint[:16],
                    }
                },
            )
            self._audit("config_reload_refused", str(path), self.pipeline.engine.fingerprint, None, message)
            return False
        warn(threshold_warnings(self.config, engine.bundle))
        old = self.pipeline.engine.fingerprint
        self.station.swap_engine(engine)
        self._audit("config_reload", str(path), old, engine.fingerprint, "SIGHUP: model reloaded")
        log.info("model reloaded", extra={"fields": {"path": str(path), "model": engine.fingerprint[:16]}})
        return True

    def _audit(self, action: str, target: str, old: object, new: object, why: str) -> None:
        """One entry of the station's audit trail (<data_dir>/audit.jsonl); a failing write is logged, never fatal."""
        try:
            AuditLog(self.config.data_dir / "audit.jsonl").record(
                action, who=f"daemon:{getpass.getuser()}", target=target, old=old, new=new, why=why
            )
        except (OSError, InspectorError) as exc:
            log.error("audit entry not written", extra={"fields": {"action": action, "error": str(exc)}})

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self.reload_event.set())

    def flowing(self) -> bool:
        """Verdicts arrived within the last watchdog period (triggered-only stations: cameras up)."""
        if all(cam.external for cam in self.pipeline.cameras.values()):
            return self.pipeline.cameras_up() and self.pipeline.ready(startup=True)
        age = self.pipeline.last_result_age()
        window = max(self.notifier.watchdog_interval or 0.0, 1.0)
        return age is not None and age <= window

    def tick(self) -> None:
        """One round of the main loop: READY once, WATCHDOG while frames flow, reloads."""
        if not self.ready_sent and self.pipeline.ready(startup=True):
            self.ready_sent = True
            self.notifier.send("READY=1", f"STATUS=inspecting {len(self.pipeline.cameras)} camera(s)")
            log.info(
                "ready",
                extra={
                    "fields": {
                        "station": self.config.station,
                        "model": self.pipeline.engine.fingerprint[:16],
                        "cameras": ",".join(self.pipeline.cameras),
                    }
                },
            )
        if self.ready_sent and self.notifier.watchdog_interval and self.flowing():
            self.notifier.send("WATCHDOG=1")
        if self.reload_event.is_set():
            self.reload_event.clear()
            self.reload_model()

    def run(self) -> int:
        log.info(
            "starting",
            extra={
                "fields": {
                    "station": self.config.station,
                    "config": str(self.config.path),
                    "model": self.pipeline.engine.fingerprint[:16],
                    "sinks": ",".join(s.kind for s in self.sinks) or "none",
                }
            },
        )
        self.station.start()
        interval = min(self.notifier.watchdog_interval or 1.0, 1.0)
        last_status = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self.tick()
                if time.monotonic() - last_status >= 60:
                    last_status = time.monotonic()
                    self._log_status()
                self.stop_event.wait(min(interval, 0.2) if not self.ready_sent else interval)
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        self.notifier.send("STOPPING=1")
        start = time.monotonic()
        clean = self.station.stop(STOP_BUDGET_S)
        record = self.pipeline.last_record
        lost = {sink.kind: sink.stats.lost_at_stop for sink in self.sinks if sink.stats.lost_at_stop}
        clean = clean and not lost
        log_level = logging.INFO if clean else logging.ERROR
        log.log(
            log_level,
            "stopped",
            extra={
                "fields": {
                    "clean": clean,
                    "seconds": round(time.monotonic() - start, 3),
                    "not_written": ",".join(f"{k}:{n}" for k, n in lost.items()) or "0",
                    "frames": self.pipeline.snapshot().frames,
                    "run": self.pipeline.run_id,
                    "last_camera": record.camera if record else "",
                    "last_frame_id": record.frame_id if record else 0,
                }
            },
        )
        self.notifier.close()

    def _log_status(self) -> None:
        snap = self.pipeline.snapshot()
        log.info(
            "status",
            extra={
                "fields": {
                    "frames": snap.frames,
                    "ok": snap.verdicts.ok,
                    "ng": snap.verdicts.ng,
                    "dropped": snap.dropped,
                    "errors": snap.errors,
                    "down": ",".join(c for c, cam in snap.cameras.items() if not cam.up),
                }
            },
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="station TOML (docs/station-config.md)")
    parser.add_argument("--check", action="store_true", help="validate the config and the model, then exit")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="override log.level")
    parser.add_argument("--log-format", choices=("kv", "json"), help="override log.format")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(args.log_level or config.log_level, args.log_format or config.log_format)
    if args.check:
        engine = build_engine(config)
        for text in preflight(config, engine.bundle):
            print(f"warning: {config.path}: {text}")
        print(f"{config.path}: OK ({len(config.cameras)} camera(s), sinks: {', '.join(config.sinks) or 'none'})")
        return 0
    daemon = Daemon(config)
    daemon.install_signals()
    return daemon.run()
