"""Export self-check: the same images through torch and through onnxruntime must agree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch


@dataclass
class ParityReport:
    images: int
    max_score_diff: float
    score_range: float
    tolerance: float
    flips: int
    max_map_diff: float

    @property
    def ok(self) -> bool:
        return self.max_score_diff <= self.tolerance and self.flips == 0

    def describe(self) -> str:
        return (
            f"parity on {self.images} images: max |score diff| {self.max_score_diff:.3g} "
            f"(tolerance {self.tolerance:.3g} = 1e-4 x score range {self.score_range:.4g}), "
            f"OK/NG flips {self.flips}, max |map diff| {self.max_map_diff:.3g}"
        )


@torch.inference_mode()
def check_parity(
    model: torch.nn.Module, bundle_bytes: bytes, images: list[np.ndarray], threshold: float, batch: int = 16
) -> ParityReport:
    session = ort.InferenceSession(bundle_bytes, providers=["CPUExecutionProvider"])
    tiler = getattr(model, "tiler", None)
    if tiler is not None:  # keep about `batch` views per call: a tiled image is many views
        batch = max(1, batch // tiler.count)
    torch_scores, ort_scores, map_diff = [], [], 0.0
    for start in range(0, len(images), batch):
        x = np.stack(images[start : start + batch])
        ts, tm = model(torch.from_numpy(x))
        os_, om = session.run(["score", "anomaly_map"], {"image": x})
        torch_scores.append(ts.numpy())
        ort_scores.append(os_)
        map_diff = max(map_diff, float(np.abs(tm.numpy() - om).max()))
    t, o = np.concatenate(torch_scores), np.concatenate(ort_scores)
    score_range = float(t.max() - t.min()) if len(t) > 1 else float(abs(t[0])) or 1.0
    flips = int(((t > threshold) != (o > threshold)).sum())
    return ParityReport(
        len(t), float(np.abs(t - o).max()), score_range, 1e-4 * max(score_range, 1e-12), flips, map_diff
    )
