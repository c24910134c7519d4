"""Synthetic non-digits: training negatives (hub.negatives) and the reading benchmark's own (benchmarks/render_negatives.py)."""

import numpy as np
import pytest

from hub import negatives
from hub.preprocess import is_mnist_form

pytest.importorskip("matplotlib")


def test_training_negatives_are_mnist_form_and_deterministic():
    images = negatives.make_negatives(60, seed=3)
    assert images.shape == (60, 28, 28) and images.dtype == np.uint8
    assert is_mnist_form(images.astype(np.float32) / 255.0).all()
    assert np.array_equal(images, negatives.make_negatives(60, seed=3))
    assert not np.array_equal(images, negatives.make_negatives(60, seed=4))
    assert len({image.tobytes() for image in images}) == 60
    assert not any(negatives.is_vertical_line(image) for image in images)


def test_training_characters_leave_out_digit_lookalikes():
    for char in "0123456789OoQDIil|!ZzSs$bGB&gqT":
        assert char in negatives.EXCLUDED_CHARACTERS
        assert char not in negatives.TRAIN_CHARACTERS
    assert "A" in negatives.TRAIN_CHARACTERS and "#" in negatives.TRAIN_CHARACTERS


def test_training_fonts_are_dejavu_only():
    fonts = negatives.train_fonts()
    assert fonts and all(font.name.startswith("DejaVu") for font in fonts)


def test_vertical_line_detector():
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 13:15] = 255  # a 1
    assert negatives.is_vertical_line(image)
    assert not negatives.is_vertical_line(image.T)  # a dash
    image[13:15, 4:24] = 255  # a plus sign
    assert not negatives.is_vertical_line(image)
