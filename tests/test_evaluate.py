"""hub.evaluate: figures agree with each other, are JSON-ready, and bad inputs get clear errors."""

import json

import numpy as np
import pytest

from hub.evaluate import Evaluation, categorical_crossentropy, evaluate, metrics_from_probabilities

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(11, activation="softmax"),  # ten digits and "not_a_digit"
        ]
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((70, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 70)
    return x, y


def test_evaluate_shapes_and_consistency(tiny_model, data):
    x, y = data
    ev = evaluate(tiny_model, x, y, batch_size=32)
    assert isinstance(ev, Evaluation)
    assert ev.probabilities.shape == (70, 10) and ev.probabilities.dtype == np.float32
    assert ev.outputs.shape == (70, 11)  # what the model says; probabilities are its digits' share, renormalised
    np.testing.assert_allclose(ev.probabilities * ev.outputs[:, :10].sum(1, keepdims=True), ev.outputs[:, :10],
                               rtol=1e-5)
    np.testing.assert_allclose(ev.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ev.predictions, ev.probabilities.argmax(axis=1))
    np.testing.assert_array_equal(ev.labels, y)

    m = ev.metrics
    assert {"test_accuracy", "test_loss", "test_samples", "per_class", "confusion_matrix"} <= set(m)
    assert m["test_samples"] == 70
    assert m["test_accuracy"] == pytest.approx(np.mean(ev.predictions == y))
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 70
    assert np.trace(cm) == round(m["test_accuracy"] * 70)
    assert sorted(m["per_class"]) == [str(d) for d in range(10)]
    assert sum(row["support"] for row in m["per_class"].values()) == 70
    for d, row in m["per_class"].items():
        assert set(row) == {"precision", "recall", "f1-score", "support"}
        assert row["support"] == int(np.sum(y == int(d)))
    json.loads(json.dumps(m))  # JSON-serialisable as is


def test_loss_matches_keras(tiny_model, data):
    x, y = data
    ev = evaluate(tiny_model, x, y)
    expected = keras.losses.SparseCategoricalCrossentropy()(y, ev.probabilities)
    assert ev.metrics["test_loss"] == pytest.approx(float(expected), rel=1e-5)


def test_perfect_predictions():
    y = np.repeat(np.arange(10), 3)
    probs = np.eye(10, dtype=np.float32)[y]
    m = metrics_from_probabilities(probs, y)
    assert m["test_accuracy"] == 1.0
    assert np.array_equal(np.array(m["confusion_matrix"]), np.diag([3] * 10))
    assert all(row["f1-score"] == 1.0 for row in m["per_class"].values())
    assert categorical_crossentropy(probs, y) < 1e-6


def test_missing_class_does_not_fail():
    y = np.array([0, 0, 1])
    probs = np.eye(10, dtype=np.float32)[[0, 1, 1]]
    m = metrics_from_probabilities(probs, y)
    assert m["per_class"]["9"]["support"] == 0
    assert m["test_accuracy"] == pytest.approx(2 / 3)


def test_bad_inputs_have_clear_messages(tiny_model, data):
    x, y = data
    with pytest.raises(ValueError, match="mnist_to_input"):
        evaluate(tiny_model, (x * 255).astype(np.uint8), y)
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        evaluate(tiny_model, x[..., 0], y)
    with pytest.raises(ValueError, match="labels"):
        evaluate(tiny_model, x, y[:10])
    with pytest.raises(ValueError, match="not one-hot|0-9"):
        metrics_from_probabilities(np.full((2, 10), 0.1), np.array([3, 12]))
