"""Fitting a recipe: a quick run gives a usable model, and full runs keep their recipe unchanged."""

import dataclasses

import numpy as np
import pytest

from hub import data
from hub.model import RECIPES, build_model
from hub.preprocess import mnist_to_input
from hub.training import adapt_to_run_length, train

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
