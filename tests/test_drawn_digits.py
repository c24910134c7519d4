"""hub.drawn_digits: MNIST training digits redrawn like users' drawings, in MNIST form, reproducibly."""

import numpy as np

from hub import drawn_digits
from hub.data import load_mnist
from hub.preprocess import is_mnist_form


def test_redrawn_digits_are_mnist_form_reproducible_and_not_the_originals():
    digits = load_mnist().x_train[:60]
    drawn = drawn_digits.draw_like_users(digits, seed=3)
    assert drawn.shape == digits.shape and drawn.dtype == np.uint8
    assert is_mnist_form(drawn.astype(np.float32) / 255).all()
    assert np.array_equal(drawn, drawn_digits.draw_like_users(digits, seed=3))
    assert not np.array_equal(drawn, drawn_digits.draw_like_users(digits, seed=4))
    changed = (drawn != digits).any(axis=(1, 2))
    assert changed.mean() > 0.9  # each is redrawn (kept only if no drawing of it survives preprocessing)


def test_every_kind_draws_a_digit_that_preprocessing_finds():
    digit = load_mnist().x_train[0]
    rng = np.random.default_rng(0)
    for kind, render in drawn_digits.RENDER.items():
        image = render(digit, rng)
        assert image.mode == "L" and min(image.size) >= 8, kind
    assert set(drawn_digits.RENDER) == set(drawn_digits.KINDS)
