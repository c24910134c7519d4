"""hub.feature_distance: the Mahalanobis distance to the nearest digit class, how it travels in the model folder, and
how reading declines a symbol unlike any digit."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hub.feature_distance import FILE, FeatureDistance


def _two_classes(rng, n=4000):
    """Two classes, spread 10x wider along the first axis than along the second."""
    features = np.concatenate([rng.normal([0, 0], [10, 1], (n, 2)), rng.normal([100, 0], [10, 1], (n, 2))])
    return features, np.repeat([0, 1], n)


def test_distance_is_mahalanobis_to_the_nearest_class():
    rng = np.random.default_rng(0)
    features, labels = _two_classes(rng)
    fitted = FeatureDistance.fit(features, labels, _two_classes(rng, 500)[0])
    d = fitted.distance(np.array([[0.0, 0.0], [100.0, 0.0], [20.0, 0.0], [0.0, 2.0], [50.0, 0.0]]))
    assert d[0] < 0.1 and d[1] < 0.1  # at either class mean
    assert d[2] == pytest.approx(2.0, abs=0.15) and d[3] == pytest.approx(2.0, abs=0.15)  # two spreads away
    assert d[4] == pytest.approx(5.0, abs=0.3)  # halfway: five spreads from both


def test_threshold_is_the_validation_quantile_and_not_the_training_one():
    rng = np.random.default_rng(1)
    features, labels = _two_classes(rng)
    validation = _two_classes(rng, 5000)[0] * np.array([1.0, 1.5])  # wider than training: a higher threshold
    fitted = FeatureDistance.fit(features, labels, validation, quantile=0.99)
    assert np.mean(fitted.distance(validation) >= fitted.threshold) == pytest.approx(0.01, abs=0.002)
    assert np.mean(fitted.is_far(features)) < 0.005


def test_save_and_load_keep_the_distances(tmp_path):
    rng = np.random.default_rng(2)
    features, labels = _two_classes(rng)
    fitted = FeatureDistance.fit(features, labels, features[:500])
    assert fitted.save(tmp_path) == tmp_path / FILE
    loaded = FeatureDistance.load(tmp_path, fitted.threshold)
    probe = rng.normal(50, 30, (100, 2))
    np.testing.assert_allclose(loaded.distance(probe), fitted.distance(probe), rtol=1e-5)
    assert loaded.threshold == fitted.threshold


# ---------------------------------------------------------------------- the model folder


@pytest.fixture(scope="module")
def clf(model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


def test_train_writes_the_distance_and_model_tflite_gives_the_features(clf, model_dir):
    config = json.loads((model_dir / "classifier.json").read_text())
    assert config["feature_distance"]["file"] == FILE and (model_dir / FILE).is_file()
    assert clf.feature_distance is not None and clf.runtime.num_features == clf.feature_distance.whiten.shape[0]
    assert clf.feature_distance.threshold == pytest.approx(config["feature_distance"]["threshold"], abs=1e-3)
    from hub.data import load_mnist
    from hub.preprocess import mnist_to_input

    digits = mnist_to_input(load_mnist().x_test[:2000])
    probabilities, not_a_digit, distance = clf.scores(digits)
    np.testing.assert_allclose(probabilities, clf.probabilities(digits)[0], atol=1e-6)  # the same model call
    assert distance.shape == (2000,) and np.mean(clf.unlike_digits(distance)) < 0.02
    from hub.negatives import make_negatives

    non_digits = mnist_to_input(make_negatives(300, seed=7))  # letters, scribbles, shapes
    far = np.mean(clf.unlike_digits(clf.scores(non_digits)[2]))
    assert far > 0.2 and far > 10 * np.mean(clf.unlike_digits(distance))


def test_a_folder_without_the_distance_declines_by_the_class_alone_and_the_command_adds_it(model_dir, tmp_path):
    """Folders written before feature_distance.npz existed still load; `python -m hub.feature_distance` adds it."""
    from hub import feature_distance, litert
    from hub.classifier import MnistClassifier
    from hub.model_folder import load_keras_model

    folder = shutil.copytree(model_dir, tmp_path / "old")
    config = json.loads((folder / "classifier.json").read_text())
    del config["feature_distance"]
    (folder / "classifier.json").write_text(json.dumps(config))
    (folder / FILE).unlink()
    (folder / "model.tflite").write_bytes(litert.convert(load_keras_model(folder)))  # probabilities only
    old = MnistClassifier.from_pretrained(folder)
    assert old.feature_distance is None and old.runtime.num_features is None
    assert old.scores(np.zeros((2, 28, 28, 1), np.float32))[2] is None
    reading = old.read_number(_two_touching_rings())
    assert all(d.feature_distance is None for d in reading.digits)
    assert all("feature_distance" not in d for d in reading.to_dict()["digits"])

    assert feature_distance.main([str(folder)]) == 0
    new = MnistClassifier.from_pretrained(folder)
    assert new.feature_distance is not None and new.runtime.num_features is not None
    x = np.random.default_rng(4).random((20, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(new.runtime(x), old.runtime(x), atol=1e-5)  # the same probabilities as before


def test_a_folder_whose_distance_file_is_missing_says_so(model_dir, tmp_path):
    from hub.classifier import ModelLoadError, MnistClassifier

    folder = shutil.copytree(model_dir, tmp_path / "incomplete")
    (folder / FILE).unlink()
    with pytest.raises(ModelLoadError, match=r"feature_distance\.npz.*hub\.push"):
        MnistClassifier.from_pretrained(folder)


# ---------------------------------------------------------------------- reading


class _StubRuntime:
    """A stand-in network: every symbol is a confident '3' (P(not a digit) 0.01) with features at `distance` from
    the single class mean at the origin."""

    num_outputs, num_features = 11, 2

    def __init__(self, distance: float):
        self.row = np.full(11, 0.01 / 9, np.float32)
        self.row[3], self.row[10] = 0.98, 0.01
        self.features = np.array([distance, 0.0], np.float32)

    def run(self, x):
        return np.repeat(self.row[None], len(x), axis=0), np.repeat(self.features[None], len(x), axis=0)

    def __call__(self, x):
        return self.run(x)[0]


def _stub_classifier(distance: float, threshold: float = 10.0):
    from hub.classifier import MnistClassifier

    config = {"format": "mnist-digit-classifier", "format_version": 2, "labels": [str(d) for d in range(10)] +
              ["not_a_digit"], "calibration": {"method": "temperature", "temperature": 1.0},
              "decline_threshold": 0.5}
    gaussians = FeatureDistance(np.zeros((1, 2)), np.eye(2), threshold)
    return MnistClassifier(_StubRuntime(distance), config, feature_distance=gaussians)


def _seven() -> Image.Image:
    image = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(image).line([(120, 100), (280, 100), (180, 320)], fill=0, width=22)
    return image


def _two_touching_rings() -> Image.Image:
    image = Image.new("L", (500, 300), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 50, 260, 250), outline=0, width=20)
    draw.ellipse((240, 50, 440, 250), outline=0, width=20)
    return image


def test_a_symbol_unlike_any_digit_declines_the_reading():
    far = _stub_classifier(distance=12.0).read_number(_seven())
    assert (far.status, far.number, far.reason) == ("not_a_digit", "", "unlike_any_digit")
    assert far.digits[0].feature_distance == pytest.approx(12.0, abs=1e-4)
    assert far.digits[0].not_a_digit == pytest.approx(0.01, abs=1e-6)  # the model's own P(not a digit) ...
    assert far.confidence == 1.0  # ... but the rule declined it
    assert far.to_dict()["digits"][0]["feature_distance"] == pytest.approx(12.0, abs=1e-4)
    near = _stub_classifier(distance=3.0).read_number(_seven())
    assert (near.status, near.number, near.reason) == ("ok", "3", "")
    assert near.digits[0].feature_distance == pytest.approx(3.0, abs=1e-4)
    assert near.digits[0].not_a_digit == pytest.approx(0.01, abs=1e-6)
