"""Exporting a classify run: one ONNX graph (uint8 NHWC in; score, anomaly_map, probs out), self-checked.

score = 1 - P(good) [N]; anomaly_map [N, H, W] in [0, 1] = CAM of the most probable defect class (CNN)
or the class token's attention (Transformers); probs [N, K] in the run's class order.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from export.bundle_writer import OPSET, stamp_and_check
from inspector.bundle.schema import INPUT_NAME, outputs_for
from inspector.bundle.write import save_bundle
from inspector.errors import InspectorError
from training.classify_model import ClassifyGraph
from training.run_summary import RunSummary

PROB_TOLERANCE = 1e-4


@dataclass
class ClassifyParity:
    images: int
    max_prob_diff: float
    class_flips: int
    verdict_flips: int
    max_map_diff: float

    @property
    def ok(self) -> bool:
        return self.max_prob_diff <= PROB_TOLERANCE and self.class_flips == 0

    def describe(self) -> str:
        return (
            f"parity on {self.images} images: max |probability diff| {self.max_prob_diff:.3g} (tolerance "
            f"{PROB_TOLERANCE:g}), class flips {self.class_flips}, OK/NG flips {self.verdict_flips}, "
            f"max |map diff| {self.max_map_diff:.3g}"
        )


def trace_classifier(graph: ClassifyGraph, size: tuple[int, int]) -> onnx.ModelProto:
    dummy = torch.zeros((2, size[0], size[1], 3), dtype=torch.uint8)
    names = list(outputs_for("classify"))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph.eval(),
            (dummy,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes={INPUT_NAME: {0: "N"}, **{n: {0: "N"} for n in names}},
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def build_classify_bundle(summary: RunSummary, model: torch.nn.Module) -> tuple[onnx.ModelProto, ClassifyGraph]:
    """The bundle in memory (full-checked, metadata stamped) and the torch graph it must match."""
    size = summary.image_size
    good_index = None if summary.role == "typer" else 0  # a typer has no good class
    graph = ClassifyGraph(model.eval(), size, len(summary.class_names), good_index=good_index).eval()
    proto = stamp_and_check(trace_classifier(graph, size), summary, f"inspector-classify-{summary.method}")
    return proto, graph


@torch.inference_mode()
def check_classify_parity(
    graph: ClassifyGraph, bundle_bytes: bytes, images: list[np.ndarray], threshold: float, batch: int = 16
) -> ClassifyParity:
    """The same images through torch and onnxruntime: probabilities, predicted classes, verdicts, maps."""
    session = ort.InferenceSession(bundle_bytes, providers=["CPUExecutionProvider"])
    prob_diff = map_diff = 0.0
    class_flips = verdict_flips = 0
    for start in range(0, len(images), batch):
        x = np.stack(images[start : start + batch])
        ts, tm, tp = (t.numpy() for t in graph(torch.from_numpy(x)))
        os_, om, op = session.run(list(outputs_for("classify")), {INPUT_NAME: x})
        prob_diff = max(prob_diff, float(np.abs(tp - op).max()))
        map_diff = max(map_diff, float(np.abs(tm - om).max()))
        class_flips += int((tp.argmax(1) != op.argmax(1)).sum())
        verdict_flips += int(((ts > threshold) != (os_ > threshold)).sum())
    return ClassifyParity(len(images), prob_diff, class_flips, verdict_flips, map_diff)


def export_classify_run(run: Path, out: Path, images: list[np.ndarray]) -> str:
    """Build, check parity on `images` (the test split), write, sidecar and verify with the runtime."""
    from training.classify_run import load_classify_run

    summary, model = load_classify_run(run)
    proto, graph = build_classify_bundle(summary, model)
    data = proto.SerializeToString()
    report = check_classify_parity(graph, data, images, summary.threshold)
    if not report.ok:
        raise InspectorError(
            f"export failed its parity check: {report.describe()}",
            "report this run (architecture and opset); nothing was written",
        )
    save_bundle(proto, out)
    return report.describe()
