"""Test-set evaluation: the figures that go into metrics.json and the model card, plus arrays for the plots.

`evaluate()` runs one batched forward pass and derives everything from the probabilities, so accuracy,
loss, per-class report and confusion matrix always agree with each other and with the plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from hub.model_folder import DIGIT_LABELS, NOT_A_DIGIT_INDEX, NUM_CLASSES

# Keras' backend epsilon: clipping probabilities with it makes our loss match keras' categorical_crossentropy.
_EPSILON = 1e-7


@dataclass(frozen=True)
class Evaluation:
    """Result of `evaluate`: JSON-ready `metrics` (metrics.json keys) and the arrays the plots need."""

    metrics: dict
    probabilities: np.ndarray  # (N, 10) float32: the digits' probabilities, renormalised (what /predict shows)
    predictions: np.ndarray  # (N,) int64, argmax of probabilities
    labels: np.ndarray  # (N,) int64, true labels
    outputs: np.ndarray  # (N, 11) float32: the model's softmax, "not_a_digit" included (what model.tflite gives)


def predict_proba(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Softmax probabilities (N, 11): ten digits and "not_a_digit", batched through Keras' compiled predict loop.

    `model.predict`'s ~100 ms fixed overhead is negligible for a test set; measured here on 10,000
    images it was as fast as an eager `model(batch)` loop or a hand-made tf.function (all 2-6 s on a
    busy 2-core machine), so we use the library's own path.
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise ValueError(
            f"expected images of shape (N, 28, 28, 1), got {x.shape}; "
            "convert MNIST uint8 arrays with hub.preprocess.mnist_to_input first"
        )
    if x.dtype != np.float32:
        raise ValueError(f"expected float32 images in [0, 1], got dtype {x.dtype}; use hub.preprocess.mnist_to_input")
    if len(x) == 0:
        raise ValueError("no images to evaluate (got an empty array)")
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).astype(np.float32, copy=False)
    if probs.shape != (len(x), NUM_CLASSES):
        raise ValueError(f"model output has shape {probs.shape}, expected ({len(x)}, {NUM_CLASSES}) softmax scores")
    return probs


def categorical_crossentropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of integer labels under predicted probabilities (same clipping as Keras)."""
    p = probabilities / probabilities.sum(axis=1, keepdims=True)
    p = np.clip(p, _EPSILON, 1.0 - _EPSILON)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def digit_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(N, 11) model outputs -> (N, 10): which digit, if it is one (the digits' probabilities, renormalised).

    Test accuracy is the argmax of these: the answer `/predict` gives. How often a real digit would be declined
    as "not a digit" is reported on its own (train.py, benchmarks/reading.py)."""
    outputs = np.asarray(outputs, np.float32)
    digits = outputs[:, : len(DIGIT_LABELS)]
    return digits / np.maximum(digits.sum(axis=1, keepdims=True), 1e-12)


def metrics_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The JSON-serialisable test figures (metrics.json keys) for given probabilities and true labels.

    `probabilities`: (N, 10) digit probabilities, or the model's (N, 11) outputs (reduced to the digits)."""
    if probabilities.shape[1] == NUM_CLASSES:
        probabilities = digit_probabilities(probabilities)
    labels = np.asarray(labels).astype(np.int64).ravel()
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(probabilities)} predictions but {len(labels)} labels: pass the matching label array")
    digits = len(DIGIT_LABELS)
    if labels.min() < 0 or labels.max() >= digits:
        raise ValueError(f"labels must be integers 0-9 (not one-hot), got values {labels.min()}..{labels.max()}")
    predictions = probabilities.argmax(axis=1)
    report = classification_report(
        labels, predictions, labels=list(range(digits)), target_names=DIGIT_LABELS, output_dict=True, zero_division=0
    )

    def row(entry):
        return {
            "precision": float(entry["precision"]),
            "recall": float(entry["recall"]),
            "f1-score": float(entry["f1-score"]),
            "support": int(entry["support"]),
        }

    cm = confusion_matrix(labels, predictions, labels=list(range(digits)))
    return {
        "test_accuracy": float(np.mean(predictions == labels)),
        "test_loss": categorical_crossentropy(probabilities, labels),
        "test_samples": int(len(labels)),
        "per_class": {name: row(report[name]) for name in DIGIT_LABELS},
        "macro_avg": row(report["macro avg"]),
        "weighted_avg": row(report["weighted avg"]),
        "confusion_matrix": cm.astype(int).tolist(),
    }


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> Evaluation:
    """Evaluate `model` on float32 images x (N, 28, 28, 1) in [0, 1] and integer labels y (N,)."""
    outputs = predict_proba(model, x, batch_size=batch_size)
    probabilities = digit_probabilities(outputs)
    labels = np.asarray(y).astype(np.int64).ravel()
    metrics = metrics_from_probabilities(probabilities, labels)
    return Evaluation(metrics=metrics, probabilities=probabilities, predictions=probabilities.argmax(axis=1),
                      labels=labels, outputs=outputs)


def not_a_digit_probability(outputs: np.ndarray) -> np.ndarray:
    """(N,) P("not_a_digit") from (N, 11) outputs."""
    return np.asarray(outputs, np.float32)[:, NOT_A_DIGIT_INDEX]
