"""The inference engine: images in, validated results out. Every front end goes through it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.alignment import PartNotFound, align
from inspector.bundle.session import Bundle
from inspector.errors import BundleError
from inspector.geometry import fit_to, prepare
from inspector.imageio import resize_to
from inspector.result import InspectionResult
from inspector.typer import DefectType, Typer
from inspector.verdict import Gates, Tightening, Verdict, measure, ood_statistic


@dataclass(frozen=True)
class View:
    """A frame as the model sees it, with what the gates must know of how it got there."""

    image: np.ndarray  # uint8 RGB at the model's input size
    frame_shape: tuple[int, int]  # (height, width) of the frame before resizing
    alignment_problem: str = ""  # why the part could not be aligned ('' when it was, or the bundle does not align)


def _check_rgb(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB HxWx3 image, got {image.dtype} {image.shape}")


class Engine:
    """Runs a verified bundle: resize to the model's size, infer in micro-batches, decide the verdict.

    The bundle carries normalisation, threshold and gates; `threshold` overrides the threshold (engineer's
    choice) and `tightening` (the station's `[verdict]`) makes the gates stricter (inspector.verdict).
    A `typer` (inspector.typer) names the defect type of the NG parts of each batch.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        threshold: float | None = None,
        max_batch: int = 8,
        clock: Callable[[], float] = time.perf_counter,
        tightening: Tightening | None = None,
        typer: Typer | None = None,
    ) -> None:
        if bundle.metadata.is_typer:
            raise BundleError(
                f"{bundle.path} is a typer (defect types only): its score never decides OK/NG",
                "use it as the typer after a verdict model: [model] typer = ... in the station "
                "config, or `inspector batch --model VERDICT.onnx --typer TYPER.onnx`",
            )
        self.bundle = bundle
        self.typer = typer
        self.threshold = float(bundle.metadata.threshold if threshold is None else threshold)
        self.max_batch = max(1, int(max_batch))
        self._clock = clock
        self.tightening = tightening
        self.gates = Gates.from_bundle(bundle.metadata.gates, bundle.input_size).tightened(tightening)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.bundle.input_size

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB HxWx3 of any size -> the model's input, resized as the bundle's `resize` policy says."""
        _check_rgb(image)
        meta = self.bundle.metadata
        return prepare(image, self.input_size, meta.resize, meta.alignment)

    def view(self, image: np.ndarray) -> View:
        """`prepare`, but a part the alignment cannot find gives the unaligned view and the reason (the
        frame is then UNSURE, `alignment`), never an exception."""
        _check_rgb(image)
        meta = self.bundle.metadata
        fitted = fit_to(image, self.input_size, meta.resize)[0]
        if not meta.alignment:
            return View(fitted, image.shape[:2])
        try:
            return View(align(fitted, meta.alignment), image.shape[:2])
        except PartNotFound as exc:
            return View(fitted, image.shape[:2], str(exc))

    def prepare_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The model's uint8 [N, H, W, 3] input for RGB images of any size (see `_prepare_rows`)."""
        return self._prepare_rows(images)[0]

    def _prepare_rows(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """The batch, each image resized straight into its row of one new array where the bundle stretches
        without alignment (no per-image copy), and each row's alignment problem ('' when none)."""
        meta = self.bundle.metadata
        height, width = self.input_size
        batch = np.empty((len(images), height, width, 3), np.uint8)
        problems = [""] * len(images)
        direct = meta.resize == "stretch" and not meta.alignment
        for i, (row, image) in enumerate(zip(batch, images, strict=True)):
            if not direct:
                view = self.view(image)
                row[...], problems[i] = view.image, view.alignment_problem
                continue
            _check_rgb(image)
            resize_to(image, (height, width), out=row)
        return batch, problems

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for a prepared uint8 [N, H, W, 3] batch, in micro-batches of max_batch."""
        names = list(self.bundle.output_names)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for start in range(0, len(batch), self.max_batch):
            outputs = self.bundle.session.run(names, {"image": batch[start : start + self.max_batch]})
            for name, value in zip(names, outputs, strict=True):
                parts[name].append(value)
        return {name: values[0] if len(values) == 1 else np.concatenate(values) for name, values in parts.items()}

    def inspect(self, images: Sequence[np.ndarray | View], *, prepared: bool = False) -> list[InspectionResult]:
        """Inspect RGB images (any size unless `prepared`: model inputs, or `View`s from `view`) and return
        one result each, its verdict decided by the gates (inspector.verdict)."""
        if not len(images):
            return []
        start = self._clock()
        if prepared:
            views = [item if isinstance(item, View) else View(item, item.shape[:2]) for item in images]
            batch = np.stack([v.image for v in views])
            sources: Sequence[np.ndarray] = list(batch)
            shapes, problems = [v.frame_shape for v in views], [v.alignment_problem for v in views]
        else:
            frames: Sequence[np.ndarray] = images  # type: ignore[assignment]
            batch, problems = self._prepare_rows(frames)
            sources = frames  # the typer resizes the full frame to its own input
            shapes = [f.shape[:2] for f in frames]
        ready = self._clock()
        outputs = self.infer(batch)
        done = self._clock()
        n = len(batch)
        meta = self.bundle.metadata
        ood = meta.task == "anomaly" and self.gates.max_ood is not None
        classes = meta.class_names
        decisions = []
        for i in range(n):
            quality = measure(batch[i]) if self.gates.needs_quality else None
            statistic = ood_statistic(outputs["anomaly_map"][i]) if ood else None
            decisions.append(
                self.gates.decide(
                    float(outputs["score"][i]), self.threshold, quality, statistic, shapes[i], problems[i]
                )
            )
        gated = self._clock()
        timings = {
            "preprocess": (ready - start) * 1000 / n,
            "inference": (done - ready) * 1000 / n,
            "gates": (gated - done) * 1000 / n,
        }
        types = self._type_ng(sources, [d.verdict is Verdict.NG for d in decisions])
        typed = self._clock()
        if self.typer is not None:
            timings["typer"] = (typed - gated) * 1000 / n
        results = []
        for i, decision in enumerate(decisions):
            probs = predicted = None
            if "probs" in outputs:
                row = outputs["probs"][i]
                probs = {name: float(p) for name, p in zip(classes, row, strict=False)}
                predicted = classes[int(np.argmax(row))]
            results.append(
                InspectionResult(
                    score=float(outputs["score"][i]),
                    threshold=self.threshold,
                    verdict=decision.verdict,
                    model_fingerprint=self.fingerprint,
                    anomaly_map=outputs["anomaly_map"][i],
                    predicted_class=predicted,
                    probs=probs,
                    timings_ms=dict(timings),
                    reason=decision.reason,
                    reason_detail=decision.detail,
                    defect_type=types[i].name if i in types else None,
                    defect_type_probability=types[i].probability if i in types else None,
                )
            )
        return results

    def _type_ng(self, images: Sequence[np.ndarray], ng: list[bool]) -> dict[int, DefectType]:
        """The typer's answer for each NG image (one batched run; {} without a typer or an NG part)."""
        rows = [i for i, flag in enumerate(ng) if flag]
        if self.typer is None or not rows:
            return {}
        return dict(zip(rows, self.typer.name([images[i] for i in rows]), strict=True))
