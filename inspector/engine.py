"""The inference engine: images in, validated results out. Every front end goes through it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from inspector.bundle.session import Bundle
from inspector.geometry import prepare
from inspector.imageio import resize_to
from inspector.result import InspectionResult, verdict_for


class Engine:
    """Runs a verified bundle: resize to the model's size, infer in micro-batches, apply the threshold.

    The bundle carries normalisation and threshold; `threshold` overrides the latter (engineer's choice).
    """

    def __init__(self, bundle: Bundle, *, threshold: float | None = None, max_batch: int = 8,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.bundle = bundle
        self.threshold = float(bundle.metadata.threshold if threshold is None else threshold)
        self.max_batch = max(1, int(max_batch))
        self._clock = clock

    @property
    def input_size(self) -> tuple[int, int]:
        return self.bundle.input_size

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB HxWx3 of any size -> the model's input, resized as the bundle's `resize` policy says."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 RGB HxWx3 image, got {image.dtype} {image.shape}")
        meta = self.bundle.metadata
        return prepare(image, self.input_size, meta.resize, meta.alignment)

    def prepare_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The model's uint8 [N, H, W, 3] input for RGB images of any size, each resized straight into its
        row of one new array where the bundle stretches without alignment (no per-image copy)."""
        meta = self.bundle.metadata
        height, width = self.input_size
        batch = np.empty((len(images), height, width, 3), np.uint8)
        direct = meta.resize == "stretch" and not meta.alignment
        for row, image in zip(batch, images):
            if not direct:
                row[...] = self.prepare(image)
                continue
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected a uint8 RGB HxWx3 image, got {image.dtype} {image.shape}")
            resize_to(image, (height, width), out=row)
        return batch

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for a prepared uint8 [N, H, W, 3] batch, in micro-batches of max_batch."""
        names = list(self.bundle.output_names)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for start in range(0, len(batch), self.max_batch):
            outputs = self.bundle.session.run(names, {"image": batch[start : start + self.max_batch]})
            for name, value in zip(names, outputs):
                parts[name].append(value)
        return {name: values[0] if len(values) == 1 else np.concatenate(values) for name, values in parts.items()}

    def inspect(self, images: Sequence[np.ndarray], *, prepared: bool = False) -> list[InspectionResult]:
        """Inspect RGB images (any size unless `prepared`) and return one result each."""
        if not len(images):
            return []
        start = self._clock()
        batch = np.stack(list(images)) if prepared else self.prepare_batch(images)
        ready = self._clock()
        outputs = self.infer(batch)
        done = self._clock()
        n = len(batch)
        timings = {"preprocess": (ready - start) * 1000 / n, "inference": (done - ready) * 1000 / n}
        classes = self.bundle.metadata.class_names
        results = []
        for i in range(n):
            score = float(outputs["score"][i])
            probs = predicted = None
            if "probs" in outputs:
                row = outputs["probs"][i]
                probs = {name: float(p) for name, p in zip(classes, row)}
                predicted = classes[int(np.argmax(row))]
            results.append(InspectionResult(
                score=score, threshold=self.threshold, verdict=verdict_for(score, self.threshold),
                model_fingerprint=self.fingerprint, anomaly_map=outputs["anomaly_map"][i],
                predicted_class=predicted, probs=probs, timings_ms=dict(timings),
            ))
        return results
