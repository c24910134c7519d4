"""Temperature scaling and the expected calibration error, on data whose right answers are known."""

import numpy as np
import pytest

from hub import calibration


def _sampled(temperature, n=20_000, classes=11, seed=0):
    """Softmax outputs of logits z * temperature, with labels drawn from softmax(z): calibrated at T."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, classes)) * 2.5
    true = np.exp(z - z.max(1, keepdims=True))
    true /= true.sum(1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in true])
    over = np.exp(z * temperature - (z * temperature).max(1, keepdims=True))
    return over / over.sum(1, keepdims=True), labels


def test_fitting_recovers_the_temperature_of_over_confident_outputs():
    outputs, labels = _sampled(temperature=2.0)
    fitted = calibration.fit_temperature(outputs, labels)
    assert fitted == pytest.approx(2.0, rel=0.05)
    before = calibration.expected_calibration_error(outputs, labels)
    after = calibration.expected_calibration_error(calibration.apply_temperature(outputs, fitted), labels)
    assert before > 0.05 and after < 0.015


def test_temperature_changes_no_answer_and_one_is_the_identity():
    outputs, _ = _sampled(temperature=1.5, n=500)
    scaled = calibration.apply_temperature(outputs, 3.0)
    assert np.array_equal(scaled.argmax(1), outputs.argmax(1))
    np.testing.assert_allclose(scaled.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(calibration.apply_temperature(outputs, 1.0), outputs, rtol=1e-6)


def test_ece_by_hand():
    # Two bins used: 0.95 confident and right 1 of 2 (gap 0.45), 0.55 confident and right 2 of 2 (gap 0.45).
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1])
    assert calibration.expected_calibration_error(p, labels) == pytest.approx(0.45)
    rows = calibration.reliability_table(p, labels)
    assert [r["count"] for r in rows] == [2, 2] and rows[1]["accuracy"] == 0.5
