"""Fitting a recipe: a quick run gives a usable model, and full runs keep their recipe unchanged."""

import dataclasses

import numpy as np
import pytest

from hub import data
from hub.model import RECIPES, build_model
from hub.preprocess import mnist_to_input
from hub.training import adapt_to_run_length, kept_epoch, train

FULL_TRAINING_SET = 55_000  # 60,000 minus the 5,000 validation images


@pytest.mark.parametrize("preset", sorted(RECIPES))
def test_full_runs_keep_their_recipe(preset, capsys):
    recipe = RECIPES[preset]
    assert adapt_to_run_length(recipe, FULL_TRAINING_SET) == recipe
    assert "WARNING" not in capsys.readouterr().out


def test_the_quick_run_is_fitted_to_its_24_steps_and_says_so(capsys):
    quick = dataclasses.replace(RECIPES["default"], epochs=1)
    adapted = adapt_to_run_length(quick, 3000)
    # What the moving statistics keep of their starting values (mean 0, variance 1) after 24 steps:
    # 8% at momentum 0.9, which wrecked the first layer's variance of about 0.005.
    assert adapted.batchnorm_momentum ** 24 < 1e-4
    assert adapted.augment == {}
    assert "WARNING: a short run (24 steps)" in capsys.readouterr().out
    assert adapt_to_run_length(adapted, 3000) == adapted  # already fitted: nothing more to change or say
    assert capsys.readouterr().out == ""


def test_built_model_carries_the_batchnorm_momentum():
    model = build_model("default", batchnorm_momentum=0.5)
    momenta = {layer.get_config()["momentum"] for layer in model.layers if "batch_normalization" in layer.name}
    assert momenta == {0.5}


def test_the_quick_run_gives_a_usable_model():
    """`python train.py --epochs 1 --max-train-samples 3000`'s training, which used to end at 11% ("1" for all)."""
    mnist = data.load_mnist()
    (x_train, y_train), (x_val, y_val) = data.split_validation(mnist.x_train, mnist.y_train, 5000, seed=42)
    recipe = dataclasses.replace(RECIPES["default"], epochs=1)
    model, _, _ = train(recipe, mnist_to_input(x_train[:3000]), y_train[:3000],
                        mnist_to_input(x_val[:1000]), y_val[:1000], seed=42, verbose=0)
    outputs = np.asarray(model.predict(mnist_to_input(mnist.x_test), batch_size=1000, verbose=0))
    predictions = outputs[:, :10].argmax(1)  # the digit /predict names
    accuracy = float((predictions == mnist.y_test).mean())
    assert accuracy >= 0.90, f"quick run: {accuracy:.2%} test accuracy, answers {np.bincount(predictions, minlength=10)}"


def test_augmentation_moves_rotates_and_zooms_in_one_resampling():
    from hub.training import random_affine

    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 10:18, 12:16] = 1.0  # a bar in the middle: stays inside the frame under every allowed move
    assert np.array_equal(np.asarray(random_affine(images, 0.0, 0.0, 0.0, seed=1)), images)  # nothing asked
    moved = np.asarray(random_affine(images, shift=0.1, rotation=0.04, zoom=0.1, seed=1))
    assert moved.shape == images.shape and not np.allclose(moved, images)
    ys, xs = np.mgrid[:28, :28]
    ink = moved[..., 0].sum(axis=(1, 2))
    centre_x = (moved[..., 0] * xs).sum(axis=(1, 2)) / ink
    centre_y = (moved[..., 0] * ys).sum(axis=(1, 2)) / ink
    # shifts of up to 10% of 28 px (plus what zoom and rotation move the centre), ink kept to within zoom's +-10%^2
    assert np.abs(centre_x - 13.5).max() <= 2.8 + 1.0 and np.abs(centre_y - 13.5).max() <= 2.8 + 1.0
    assert np.abs(centre_x - 13.5).max() > 1.0  # and it does move them
    np.testing.assert_allclose(ink, 32.0, rtol=0.25)


def test_precision_auto_is_chosen_by_measuring(monkeypatch):
    from hub import training

    assert training.measured_bfloat16_speedup.__wrapped__(repeats=1) > 0  # the real measurement runs
    monkeypatch.setattr(training, "measured_bfloat16_speedup", lambda: 0.2)  # emulated bfloat16: 5x slower
    assert training.precision_policy("auto") == "float32"
    monkeypatch.setattr(training, "measured_bfloat16_speedup", lambda: 1.3)  # native bfloat16
    assert training.precision_policy("auto") == "mixed_bfloat16"
    assert training.precision_policy("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be"):
        training.precision_policy("float16")


def test_the_kept_epoch_is_the_best_of_those_early_stopping_watched():
    """A 14-epoch one-cycle run watches epochs 8-14: a lower loss at epoch 5 is not what was kept (a run printed
    "best epoch 5" while early stopping restored epoch 9)."""
    recipe = dataclasses.replace(RECIPES["default"], epochs=14)
    losses = [0.20, 0.13, 0.11, 0.10, 0.08, 0.09, 0.13, 0.15, 0.12, 0.12, 0.14, 0.15]
    assert kept_epoch(recipe, {"val_loss": losses}) == 8  # 0-based: epoch 9
    constant = dataclasses.replace(RECIPES["classic"], epochs=12)
    assert kept_epoch(constant, {"val_loss": losses}) == 4  # watched from the start
    assert kept_epoch(recipe, {"val_loss": [0.3, 0.2]}) == 1  # a run cut short still names an epoch it ran
