"""Write the GUI's threshold and ROI edits back into the station TOML, keeping its comments and layout.

Only the lines that change are touched (`threshold` in `[model]`, `roi` in a camera's `[[cameras]]`
table). The edited text is parsed with the station config's own rules before it is written, and it must
give exactly the old config with the new values; anything else (an unusual layout, a dotted key) is
refused with the lines to write by hand. The file is replaced through `inspector.atomic` (fsynced,
same mode), and every save is logged as an audit line.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import tomllib
from pathlib import Path

from inspector.atomic import atomic_write
from inspector.audit import operator_name, record_safely
from inspector.errors import InspectorError
from inspector.live.config import StationConfig, parse_config

log = logging.getLogger("inspector.gui")
Roi = tuple[int, int, int, int] | None
_HEADER = re.compile(r"^\s*\[")


def _value_line(key: str, value: object, old: str | None = None) -> str:
    """`key = value`, keeping the indent and the trailing comment of `old`."""
    text = (
        repr(float(value))
        if isinstance(value, float)
        else str(list(value))
        if isinstance(value, tuple)
        else repr(value)
    )
    if old is None:
        return f"{key} = {text}"
    indent = old[: len(old) - len(old.lstrip())]
    comment = old[old.index("#") :] if "#" in old else ""  # threshold and roi values hold no '#'
    return f"{indent}{key} = {text}" + (f"  {comment}" if comment else "")


def _set_key(lines: list[str], start: int, end: int, key: str, value: object, after: int) -> None:
    """In lines[start:end] (one table's own keys), set `key` (None: remove it); insert after line `after`."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start, end):
        if pattern.match(lines[i]):
            if value is None:
                del lines[i]
            else:
                lines[i] = _value_line(key, value, lines[i])
            return
    if value is not None:
        lines.insert(after + 1, _value_line(key, value))


def _table_end(lines: list[str], start: int) -> int:
    """The first line after the header at `start` that opens another table."""
    return next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))


def edit_text(text: str, threshold: float | None, rois: dict[str, Roi]) -> str:
    """`text` with `[model] threshold` set (None: removed) and each listed camera's `roi` set (None: removed)."""
    lines = text.splitlines()
    model = next((i for i, line in enumerate(lines) if line.strip() == "[model]"), None)
    if model is None:
        raise InspectorError("the station config has no [model] table header line", "write the threshold by hand")
    _set_key(lines, model + 1, _table_end(lines, model), "threshold", threshold, model)
    for cam, roi in rois.items():
        found = False
        for i, line in enumerate(lines):
            if line.strip() != "[[cameras]]":
                continue
            end = _table_end(lines, i)
            if any(re.match(rf"^\s*id\s*=\s*[\"']{re.escape(cam)}[\"']", lines[j]) for j in range(i + 1, end)):
                _set_key(lines, i + 1, end, "roi", roi, i)
                found = True
                break
        if not found:
            raise InspectorError(f"no [[cameras]] table with id = {cam!r} found as a line", "write the roi by hand")
    return "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")


def hand_lines(threshold: float | None, rois: dict[str, Roi]) -> str:
    """The settings as a person would copy them into the file."""
    parts = [f"[model] threshold = {threshold!r}" if threshold is not None else "[model]: no threshold line"]
    parts += [
        f"[[cameras]] id = {cam!r}: " + (f"roi = {list(roi)}" if roi else "no roi line") for cam, roi in rois.items()
    ]
    return "; ".join(parts)


def _expected(raw: dict, threshold: float | None, rois: dict[str, Roi]) -> dict:
    """The TOML document `raw` with only the threshold and the listed cameras' ROIs changed."""
    out = copy.deepcopy(raw)
    model = out.setdefault("model", {})
    model.pop("threshold", None)
    if threshold is not None:
        model["threshold"] = threshold
    for cam in out.get("cameras", []):
        if isinstance(cam, dict) and cam.get("id") in rois:
            cam.pop("roi", None)
            if (roi := rois[cam["id"]]) is not None:
                cam["roi"] = list(roi)
    return out


def save_station_settings(path: Path, threshold: float | None, rois: dict[str, Roi]) -> StationConfig:
    """Write `threshold` (None: the bundle's own) and `rois` into the station TOML at `path`; the new config.

    InspectorError (nothing written) when the file cannot be edited safely or written by this account.
    """
    path = Path(path)
    by_hand = f"write by hand in {path}: {hand_lines(threshold, rois)}"
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
        before = parse_config(copy.deepcopy(raw), path, check_model=False)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InspectorError(f"{path}: the station config cannot be read ({exc})", by_hand) from exc
    try:
        new_text = edit_text(text, threshold, rois)
        edited = tomllib.loads(new_text)
        after = parse_config(copy.deepcopy(edited), path, check_model=False)
    except (tomllib.TOMLDecodeError, InspectorError) as exc:
        message = exc.message if isinstance(exc, InspectorError) else f"the edit would break the TOML ({exc})"
        raise InspectorError(f"{path}: {message}; nothing was written", by_hand) from exc
    if edited != _expected(raw, threshold, rois):
        raise InspectorError(f"{path}: its layout cannot be edited line by line safely; nothing was written", by_hand)
    mode = path.stat().st_mode & 0o777
    try:
        atomic_write(path, new_text, mode=mode)
    except OSError as exc:
        raise InspectorError(
            f"{path}: cannot be written by this account ({exc.strerror})", f"ask who manages the station to {by_hand}"
        ) from exc
    log.info(
        "audit: station config saved from the GUI",
        extra={
            "fields": {
                "path": str(path),
                "user": os.environ.get("USER", str(os.getuid())),
                "threshold": f"{before.threshold} -> {after.threshold}",
                "roi": ", ".join(f"{c}: {list(r) if r else None}" for c, r in rois.items()),
            }
        },
    )
    return after


def _area(roi: Roi) -> str:
    return "whole frame" if roi is None else str(list(roi))


def _shown(threshold: float | None) -> str:
    return "the bundle's own" if threshold is None else f"{threshold:.4g}"


class SavedSettings:
    """What the station config file holds (threshold None: the bundle's own; ROI None: the whole frame),
    compared with what a running station (`engine`, `cameras`) uses: the GUI's edits lost on restart."""

    def __init__(self, config: StationConfig) -> None:
        self.path = Path(config.path)
        self.audit_path = config.data_dir / "audit.jsonl"
        self.threshold: float | None = config.threshold
        self.rois: dict[str, Roi] = {c.id: c.roi for c in config.cameras}

    def writable_path(self) -> bool:
        """False when the station was started without a config file (--model/--source)."""
        return self.path.is_file()

    @staticmethod
    def running_threshold(station) -> float | None:
        """The running threshold as the config writes it (None: the bundle's own)."""
        engine = station.engine
        if engine is None:
            return None
        return None if engine.threshold == engine.bundle.metadata.threshold else engine.threshold

    def threshold_changed(self, station) -> bool:
        return station.engine is not None and self.running_threshold(station) != self.threshold

    def changes(self, station) -> list[str]:
        """The running settings the file does not hold, in plain words."""
        changes = []
        if self.threshold_changed(station):
            changes.append(
                f"threshold {_shown(self.running_threshold(station))} (station config: {_shown(self.threshold)})"
            )
        for cam, cfg in station.cameras.items():
            if cfg.roi != self.rois.get(cam):
                changes.append(f"{cam} ROI {_area(cfg.roi)} (station config: {_area(self.rois.get(cam))})")
        return changes

    def describe(self, changes: list[str]) -> str:
        if not changes:
            return (
                f"Threshold and ROIs are as in {self.path.name}."
                if self.writable_path()
                else "Threshold and ROIs as started."
            )
        head = "TEMPORARY until restart: " + "; ".join(changes) + ". "
        if self.writable_path():
            return head + f"Save to station config ({self.path}) to keep them."
        return (
            head + "This GUI was started without a station config (--model/--source): start it with --config "
            "to keep settings."
        )

    def save(self, station) -> None:
        """Write the running threshold and every camera's ROI; InspectorError (nothing written) when refused."""
        threshold = self.running_threshold(station) if station.engine is not None else self.threshold
        rois = {cam: cfg.roi for cam, cfg in station.cameras.items()}
        save_station_settings(self.path, threshold, rois)
        record_safely(
            self.audit_path,
            "config_save",
            who=f"gui:{operator_name()}",
            target=str(self.path),
            old={"threshold": self.threshold, "rois": self.rois},
            new={"threshold": threshold, "rois": rois},
            why="engineer panel: save to station config",
        )
        self.threshold, self.rois = threshold, rois
