"""Confidences that mean what they say: temperature scaling and the expected calibration error.

Why: a softmax trained with cross-entropy is over-confident (a 0.99 is right less than 99% of the time, and on
drawings unlike MNIST far less). Temperature scaling divides the logits by one number T fitted on the validation
split; it changes no answer, only how sure each answer claims to be. The model file keeps its softmax output:
softmax(log(p) / T) equals softmax(logits / T), so T is applied to probabilities and travels in classifier.json.

numpy only (the fit uses scipy, a dependency of the package): `from_pretrained`, the Space and the benchmarks
compute the same numbers.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
_TINY = 1e-30  # log(0) guard: float32 softmax outputs underflow to exactly 0 for hopeless classes


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """Probabilities (N, C) from a softmax, rescaled as if its logits had been divided by `temperature`."""
    p = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return p.astype(np.float32)
    logits = np.log(np.maximum(p, _TINY)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    out = np.exp(logits)
    out /= out.sum(axis=-1, keepdims=True)
    return out.astype(np.float32)


def negative_log_likelihood(probabilities, labels) -> float:
    p = np.asarray(probabilities, dtype=np.float64)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(p)), np.asarray(labels)], _TINY))))


def fit_temperature(probabilities, labels) -> float:
    """The T (between 0.05 and 20) that minimises the negative log-likelihood of `labels` under the rescaled
    probabilities: the standard recipe (Guo et al., 2017), fitted on held-out data, never on the test set."""
    from scipy.optimize import minimize_scalar

    p = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    result = minimize_scalar(lambda log_t: negative_log_likelihood(apply_temperature(p, float(np.exp(log_t))),
                                                                   labels),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def expected_calibration_error(probabilities, labels, bins: int = ECE_BINS) -> float:
    """ECE: the gap between confidence and accuracy, averaged over `bins` equal-width confidence bins weighted by
    how many answers fall in each (confidence = the top probability; right = the top class is the label).
    A fraction: 0.005 is 0.5%."""
    p = np.asarray(probabilities, dtype=np.float64)
    if len(p) == 0:
        return 0.0
    confidence = p.max(axis=1)
    right = p.argmax(axis=1) == np.asarray(labels)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # bins (k/B, (k+1)/B]; 1.0 in the last
    which[confidence <= 0] = 0
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return float(total / len(p))


def reliability_table(probabilities, labels, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: its range, how many answers, their mean confidence and accuracy (for plots and cards)."""
    p = np.asarray(probabilities, dtype=np.float64)
    confidence = p.max(axis=1)
    right = p.argmax(axis=1) == np.asarray(labels)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append({"low": b / bins, "high": (b + 1) / bins, "count": int(members.sum()),
                         "confidence": float(confidence[members].mean()), "accuracy": float(right[members].mean())})
    return rows
