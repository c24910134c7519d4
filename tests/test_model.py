"""The CNN recipes: right shapes, a softmax over ten digits and "not a digit", only built-in layers (safe mode)."""

import numpy as np
import pytest

from hub import model_folder
from hub.model import ARCHITECTURES, RECIPES, build_model
from hub.preprocess import mnist_to_input


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_output_is_a_softmax_over_ten_digits_and_not_a_digit(architecture):
    model = build_model(architecture)
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(x, training=False))
    assert probabilities.shape == (5, 11) and model_folder.LABELS[-1] == "not_a_digit"
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_every_recipe_names_an_architecture():
    assert all(r.architecture in ARCHITECTURES for r in RECIPES.values())
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet1000")


def test_mnist_to_input_scales_and_adds_channel():
    x = mnist_to_input(np.array([[[0, 255], [128, 64]]], dtype=np.uint8))
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0


def test_saved_model_loads_in_safe_mode_without_optimizer_state(tmp_path):
    model = build_model("default")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(np.zeros((4, 28, 28, 1)), np.eye(11)[:4], verbose=0)  # creates the optimizer's variables
    model_folder.save_model(model, tmp_path)
    (tmp_path / "assets").mkdir()  # our plots live there: saving again must still work
    model_folder.save_model(model, tmp_path)
    reloaded = model_folder.load_keras_model(tmp_path)
    x = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(model(x)), atol=1e-6)
    weights = 4 * model.count_params()
    assert model_folder.model_bytes(tmp_path) < 1.5 * weights + 100_000  # no Adam moments saved


def test_tflite_check_measures_the_difference_and_fails_on_another_digit(tmp_path):
    model = build_model("classic")
    model_folder.save_model(model, tmp_path)
    x = np.random.default_rng(2).random((50, 28, 28, 1), dtype=np.float32)
    keras_probabilities = np.asarray(model(x, training=False))
    difference = model_folder.check_tflite(tmp_path, x, keras_probabilities)
    assert difference < 1e-5  # the same float32 network, computed by another runtime
    assert difference == model_folder.check_tflite(tmp_path, x, keras_probabilities)
    other = keras_probabilities.copy()
    other[7] = np.roll(other[7], 1)  # one image whose digit changed
    with pytest.raises(model_folder.LiteRTMismatchError, match=r"different digit .* for 1 of 50 test images .*\[7\]"):
        model_folder.check_tflite(tmp_path, x, other)


def test_an_ensemble_is_one_safe_keras_model_and_one_tflite_averaging_its_members(tmp_path):
    from hub.model import build_ensemble, ensemble_members

    members = [build_model("default", name=f"member_{i}") for i in (1, 2)]
    ensemble = build_ensemble(members)
    x = np.random.default_rng(3).random((6, 28, 28, 1), dtype=np.float32)
    expected = np.mean([np.asarray(m(x, training=False)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble(x, training=False)), expected, atol=1e-6)
    assert [m.name for m in ensemble_members(ensemble)] == ["member_1", "member_2"]
    assert ensemble_members(members[0]) == []
    model_folder.save_model(ensemble, tmp_path)
    reloaded = model_folder.load_keras_model(tmp_path)  # safe mode
    np.testing.assert_allclose(np.asarray(reloaded(x, training=False)), expected, atol=1e-6)
    assert model_folder.check_tflite(tmp_path, x, expected) < 1e-5
    # model.tflite also gives the features the feature distance reads: both members' side by side
    from hub.litert import LiteRTModel
    from hub.model import with_features

    probabilities, features = LiteRTModel((tmp_path / model_folder.TFLITE_FILE).read_bytes()).run(x)
    expected_features = np.concatenate([np.asarray(with_features(m)(x)[0]) for m in members], axis=1)
    np.testing.assert_allclose(features, expected_features, atol=1e-4)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    with pytest.raises(ValueError, match="at least two members"):
        build_ensemble(members[:1])


def test_the_best_preset_is_the_default_recipe_three_times():
    best, default = RECIPES["best"], RECIPES["default"]
    assert best.members == 3 and default.members == 1
    same = {k: v for k, v in best.as_dict().items() if k not in ("name", "description", "members")}
    assert same == {k: v for k, v in default.as_dict().items() if k not in ("name", "description", "members")}
