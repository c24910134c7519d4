"""Synthetic non-digits: training negatives (hub.negatives) and the reading benchmark's own (benchmarks/render_negatives.py)."""

import numpy as np
import pytest

from hub import negatives
from hub.data import load_mnist
from hub.preprocess import is_mnist_form

pytest.importorskip("matplotlib")


def test_training_negatives_are_mnist_form_and_deterministic():
    images = negatives.make_negatives(24, seed=3)
    assert images.shape == (24, 28, 28) and images.dtype == np.uint8
    assert is_mnist_form(images.astype(np.float32) / 255.0).all()
    assert np.array_equal(images, negatives.make_negatives(24, seed=3))
    assert not np.array_equal(images[:4], negatives.make_negatives(4, seed=4))
    assert len({image.tobytes() for image in images}) == 24
    assert not any(negatives.is_vertical_line(image) for image in images)


def test_touching_pairs_are_two_digits_that_touch_in_mnist_form():
    digits = load_mnist().x_train[:500]
    pairs = negatives.make_touching_pairs(digits, 24, seed=3)
    assert pairs.shape == (24, 28, 28) and pairs.dtype == np.uint8
    assert is_mnist_form(pairs.astype(np.float32) / 255.0).all()
    assert np.array_equal(pairs, negatives.make_touching_pairs(digits, 24, seed=3))
    assert not np.array_equal(pairs[:4], negatives.make_touching_pairs(digits, 4, seed=4))
    from scipy import ndimage

    for pair in pairs:
        ink = pair > 127
        rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
        # two digits side by side are wide: never a lone narrow stroke (two 1s that became one bold 1 are redrawn)
        assert np.ptp(cols) + 1 >= 0.7 * (np.ptp(rows) + 1)
        # the two digits touch: most of the ink is one stroke
        labels, count = ndimage.label(ink, structure=np.ones((3, 3)))
        assert np.bincount(labels.ravel())[1:].max() >= 0.8 * ink.sum()


def test_touching_pairs_never_hide_one_digit_in_the_other():
    """Two 1s side by side make one bold 1: such a pair is drawn again, and with nothing else to pair, never ends."""
    one = np.zeros((28, 28), np.uint8)
    one[4:24, 11:17] = 255  # a bold 1: two of them side by side are a bolder 1, not a lone thin stroke
    with pytest.raises(RuntimeError, match="could not draw"):
        negatives.make_touching_pairs(np.stack([one, one]), 1, seed=0)


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


# --------------------------------------------------------------------------- the benchmark's own negatives

from benchmarks import render_negatives  # noqa: E402


def test_benchmark_negatives_are_mnist_form_in_equal_thirds_and_deterministic():
    images, kinds, details = render_negatives.make_benchmark_negatives(12, seed=5)
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert is_mnist_form(images.astype(np.float32) / 255.0).all()
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {"letters": 4, "scribbles": 4, "shapes": 4}
    again, kinds_again, details_again = render_negatives.make_benchmark_negatives(12, seed=5)
    assert np.array_equal(images, again) and kinds == kinds_again and details == details_again
    families = {"letters": {"STIX", "Computer Modern"}, "scribbles": set(render_negatives.SCRIBBLES),
                "shapes": set(render_negatives.SHAPES)}
    assert all(detail in families[kind] for kind, detail in zip(kinds, details)), list(zip(kinds, details))
    assert not np.array_equal(images[:3], render_negatives.make_benchmark_negatives(3, seed=6)[0])
    assert not any(negatives.is_vertical_line(image) for image in images)


def test_each_benchmark_kind_draws_one_mnist_digit_sized_image():
    rng = np.random.default_rng(0)
    for kind, draw in render_negatives.NEGATIVE_KINDS.items():
        image, detail = draw(rng)
        assert image.shape == (28, 28) and image.dtype == np.uint8, kind
        assert isinstance(detail, str) and detail, kind


def test_benchmark_characters_leave_out_digit_lookalikes():
    for chars in (render_negatives.CM_CHARACTERS, render_negatives.STIX_CHARACTERS):
        assert not set(chars) & negatives.EXCLUDED_CHARACTERS
        assert "A" in chars and "#" in chars


def test_benchmark_and_training_share_no_font_and_no_family():
    training_fonts = {font.name for font in negatives.train_fonts()}
    assert not training_fonts & set(render_negatives.BENCHMARK_FONTS)
    assert not any(name.startswith(negatives.TRAIN_FONT_PREFIX) for name in render_negatives.BENCHMARK_FONTS)
    assert not set(negatives.SHAPES) & set(render_negatives.SHAPES)
    assert not set(negatives.SCRIBBLES) & set(render_negatives.SCRIBBLES)


def test_benchmark_fonts_have_a_glyph_for_every_character_they_draw():
    """Matplotlib's Computer Modern fonts put other glyphs at some code points (or none): a missing glyph
    renders as the font's empty box, which would be a rectangle in the benchmark, not the character."""
    from PIL import ImageFont

    for name in render_negatives.BENCHMARK_FONTS:
        font = ImageFont.truetype(str(render_negatives.font_folder() / name), 40)
        missing = np.asarray(font.getmask("\U0010fffd"))
        chars = render_negatives.STIX_CHARACTERS if name in render_negatives.STIX_FONTS \
            else render_negatives.CM_CHARACTERS
        for char in chars:
            mask = np.asarray(font.getmask(char))
            assert mask.any() and (mask.shape != missing.shape or not np.array_equal(mask, missing)), (name, char)
