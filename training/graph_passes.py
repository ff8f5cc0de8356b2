"""Graph clean-ups after tracing: fold constant zero Pads into the Conv that follows, drop dead nodes.

TF-"same" convolutions trace as Pad -> Conv; an ONNX Conv takes asymmetric pads itself, so the
separate Pad (and the layout reorders onnxruntime puts around it) disappears. Training extracts with the
same folded graph the bundle ships (training.onnx_features.trace_features); the export's parity
check verifies the result like any other graph change.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper


def _evaluate(model: onnx.ModelProto, names: list[str], input_shape: list[int]) -> dict[str, np.ndarray]:
    """Values of intermediate tensors for a zero input (used for pads, which do not depend on it)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros(input_shape, np.uint8)}
    return dict(zip(names, session.run(names, feed), strict=True))


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def fold_pads_into_convs(model: onnx.ModelProto, input_shape: list[int]) -> int:
    """Fold zero-constant Pads (spatial only) into their single Conv consumer; returns how many."""
    graph = model.graph
    users = _consumers(graph)
    outputs = {o.name for o in graph.output}
    candidates = []
    for node in graph.node:
        mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
        if node.op_type != "Pad" or mode != "constant" or node.output[0] in outputs:
            continue
        consumers = users.get(node.output[0], [])
        if len(consumers) == 1 and consumers[0].op_type == "Conv" and consumers[0].input[0] == node.output[0]:
            candidates.append((node, consumers[0]))
    if not candidates:
        return 0
    wanted = [pad.input[1] for pad, _ in candidates] + [
        pad.input[2] for pad, _ in candidates if len(pad.input) > 2 and pad.input[2]
    ]
    values = _evaluate(model, sorted(set(wanted)), input_shape)
    folded = 0
    for pad, conv in candidates:
        pads = values[pad.input[1]].astype(np.int64).tolist()
        fill = values.get(pad.input[2], np.zeros(1)) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0 or float(np.max(np.abs(fill))) != 0.0:
            continue
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        current = list(attr.ints) if attr is not None else [0, 0, 0, 0]
        merged = [current[0] + pads[2], current[1] + pads[3], current[2] + pads[6], current[3] + pads[7]]
        if attr is not None:
            conv.attribute.remove(attr)
        conv.attribute.append(helper.make_attribute("pads", merged))
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    remove_dead_nodes(model)
    return folded


def remove_dead_nodes(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(node.input)
            for attr in node.attribute:  # subgraphs (Scan bodies) read outer-scope names
                if attr.type == onnx.AttributeProto.GRAPH:
                    needed.update(i for n in attr.g.node for i in n.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
