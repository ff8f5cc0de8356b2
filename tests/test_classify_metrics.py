"""Classification metrics (numpy only): table-driven cases."""

from __future__ import annotations

import json

import pytest

from inspector.classify_metrics import classification_metrics, confusion_matrix

NAMES = ["good", "crack", "spot"]

CASES = [
    pytest.param(
        ["good", "good", "crack", "spot"],
        ["good", "good", "crack", "spot"],
        [0.1, 0.2, 0.9, 0.8],
        0.5,
        {
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "detection_rate": 1.0,
            "false_reject_rate": 0.0,
            "image_auroc": 1.0,
            "confusion_matrix": [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
        },
        id="perfect",
    ),
    pytest.param(
        ["good", "good", "crack", "spot"],
        ["good", "crack", "spot", "spot"],
        [0.1, 0.6, 0.9, 0.4],
        0.5,
        {
            "accuracy": 0.5,
            "detection_rate": 0.5,
            "false_reject_rate": 0.5,
            "image_auroc": 0.75,
            "confusion_matrix": [[1, 1, 0], [0, 0, 1], [0, 0, 1]],
            # good: P 1, R .5, F1 2/3; crack: P 0, R 0, F1 0; spot: P .5, R 1, F1 2/3
            "macro_f1": (2 / 3 + 0 + 2 / 3) / 3,
        },
        id="mixed",
    ),
    pytest.param(
        ["good", "good", "good"],
        ["good", "good", "spot"],
        [0.1, 0.2, 0.7],
        0.5,
        {
            "accuracy": 2 / 3,
            "detection_rate": None,
            "false_reject_rate": 1 / 3,
            "image_auroc": None,
            "confusion_matrix": [[2, 0, 1], [0, 0, 0], [0, 0, 0]],
            # crack never occurs nor is predicted: left out of the macro average; spot: F1 0
            "macro_f1": (0.8 + 0.0) / 2,
        },
        id="only-good-labels",
    ),
    pytest.param(
        ["crack", "spot"],
        ["spot", "crack"],
        [0.9, 0.9],
        0.95,
        {
            "accuracy": 0.0,
            "macro_f1": 0.0,
            "detection_rate": 0.0,
            "false_reject_rate": None,
            "image_auroc": None,
            "confusion_matrix": [[0, 0, 0], [0, 0, 1], [0, 1, 0]],
        },
        id="all-wrong-below-threshold",
    ),
]


@pytest.mark.parametrize("labels,predicted,scores,threshold,expected", CASES)
def test_classification_metrics_table(labels, predicted, scores, threshold, expected) -> None:
    m = classification_metrics(labels, predicted, scores, threshold, NAMES)
    for key, value in expected.items():
        if isinstance(value, float):
            assert m[key] == pytest.approx(value), key
        else:
            assert m[key] == value, key
    assert m["n_images"] == len(labels)
    assert sum(map(sum, m["confusion_matrix"])) == len(labels)
    json.dumps(m, allow_nan=False)  # JSON-safe: no nan, no numpy types


def test_per_class_rows_and_undefined_values() -> None:
    m = classification_metrics(["good", "crack", "crack"], ["good", "crack", "good"], [0.1, 0.9, 0.3], 0.5, NAMES)
    assert m["per_class"]["good"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
        "predicted": 2,
    }
    assert m["per_class"]["crack"]["recall"] == 0.5 and m["per_class"]["crack"]["precision"] == 1.0
    assert m["per_class"]["spot"] == {"precision": None, "recall": None, "f1": None, "support": 0, "predicted": 0}
    assert m["detection_rate_by_type"]["crack"] == {"count": 2, "detected": 1, "rate": 0.5}
    assert m["class_names"] == NAMES


@pytest.mark.parametrize(
    "labels,predicted,scores,message",
    [
        (["good"], ["good", "spot"], [0.1], "differ in length"),
        (["good", "dent"], ["good", "good"], [0.1, 0.2], "not among the class names"),
        ([], [], [], "no labelled images"),
    ],
)
def test_bad_inputs_are_refused(labels, predicted, scores, message) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(labels, predicted, scores, 0.5, NAMES)


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix(["good", "spot", "spot"], ["spot", "spot", "good"], NAMES)
    assert matrix.tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 1]]
