"""MnistClassifier on a local model folder: model.tflite agrees with Keras, no TensorFlow at inference, inputs, errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clf(model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def keras_model(model_dir):
    """The same network from the folder's Keras files: the reference model.tflite must agree with."""
    from hub.model_folder import load_keras_model

    return load_keras_model(model_dir)


def _sketch(mode="RGBA", size=800):
    """A '1'-like stroke drawn like the Space's sketchpad: black ink on a transparent/white canvas."""
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    image = Image.new(mode, (size, size), background)
    ImageDraw.Draw(image).line([(size // 2, size // 5), (size // 2, 4 * size // 5)], fill="black",
                               width=size // 20)
    return image


def test_predict_matches_the_keras_model_on_mnist_arrays(clf, keras_model):
    x = np.random.default_rng(1).integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    x[:, [0, -1], :] = 0  # dark border: MNIST form, taken as is
    x[:, :, [0, -1]] = 0
    from hub.calibration import apply_temperature

    outputs = np.asarray(keras_model(x[..., None].astype("float32") / 255.0, training=False))
    assert outputs.shape == (8, 11)  # ten digits and not_a_digit
    calibrated = apply_temperature(outputs, clf.temperature)
    expected = calibrated[:, :10] / calibrated[:, :10].sum(axis=1, keepdims=True)  # "which digit, if one"
    np.testing.assert_allclose(clf.predict_proba(x), expected, atol=1e-5)
    np.testing.assert_allclose(clf.not_a_digit_proba(x), calibrated[:, 10], atol=1e-5)
    predictions = clf.predict(x)
    assert isinstance(predictions, list) and len(predictions) == 8
    assert [p.label for p in predictions] == list(np.argmax(expected, axis=1))
    p = predictions[0]
    assert set(p.probabilities) == {str(i) for i in range(10)}
    assert abs(sum(p.probabilities.values()) - 1.0) < 1e-4
    assert p.confidence == max(p.probabilities.values())


def test_model_tflite_matches_the_keras_model_at_every_batch_size(clf, keras_model):
    """The fast path is the same network: the converted file must not drift from what Keras computes."""
    from hub.classifier import LiteRTModel

    assert isinstance(clf.runtime, LiteRTModel)
    assert clf.runtime.flatbuffer == (clf.folder / "model.tflite").read_bytes()  # the file, not a conversion
    x = np.random.default_rng(2).random((40, 28, 28, 1), dtype=np.float32)
    expected = np.asarray(keras_model(x, training=False))
    for n in (1, 3, 16, 17, 40, 1):  # one thread, several threads, and back (interpreter resized each time)
        # float32 in two runtimes: the same sums in another order differ by a few units in the last place
        np.testing.assert_allclose(clf.runtime(x[:n]), expected[:n], rtol=1e-5, atol=1e-6)


def test_litert_runtime_is_per_thread(clf, keras_model):
    """Interpreters are not thread-safe: concurrent callers must each get right answers."""
    import concurrent.futures

    x = np.random.default_rng(3).random((8, 1, 28, 28, 1), dtype=np.float32)
    expected = [np.asarray(keras_model(image, training=False)) for image in x]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: [clf.runtime(x[i]) for _ in range(20)][-1], range(8)))
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_inference_imports_neither_tensorflow_nor_keras(model_dir):
    """A fresh process loads the folder and predicts; TensorFlow and Keras must never have been imported."""
    script = (
        "import sys, numpy as np\n"
        "from PIL import Image, ImageDraw\n"
        "from hub import MnistClassifier\n"
        "from hub.litert import LiteRTModel\n"
        f"clf = MnistClassifier.from_pretrained({str(model_dir)!r})\n"
        "image = Image.new('L', (200, 200), 255)\n"
        "ImageDraw.Draw(image).line([(100, 40), (100, 160)], fill=0, width=12)\n"
        "print('LABEL', clf.predict(image).label, isinstance(clf.runtime, LiteRTModel))\n"
        "batch = np.zeros((3, 28, 28), np.uint8); batch[:, 4:24, 13:15] = 255  # MNIST form: three 1s\n"
        "print('BATCH', clf.predict_proba(batch).shape)\n"
        "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf_keras'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LABEL 1 True" in proc.stdout and "BATCH (3, 10)" in proc.stdout
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_folder_without_tflite_loads_from_the_keras_files(model_dir, clf, tmp_path):
    """Folders and repos from before model.tflite: the Keras model, converted in memory, answers the same."""
    from hub.classifier import LiteRTModel, MnistClassifier

    folder = shutil.copytree(model_dir, tmp_path / "keras-only")
    (folder / "model.tflite").unlink()
    old = MnistClassifier.from_pretrained(folder)
    assert isinstance(old.runtime, LiteRTModel)
    x = np.random.default_rng(5).random((20, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(old.runtime(x), clf.runtime(x), atol=1e-6)


def test_without_litert_the_keras_model_runs_through_tensorflow(keras_model, monkeypatch):
    from hub import classifier, litert

    def no_litert(model):
        raise ImportError("No module named 'ai_edge_litert'")

    monkeypatch.setattr(litert, "convert", no_litert)
    run = classifier.keras_runtime(keras_model)
    assert not isinstance(run, classifier.LiteRTModel)
    x = np.random.default_rng(4).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(run(x), np.asarray(keras_model(x, training=False)), atol=1e-6)


def test_single_image_inputs_give_one_prediction(clf, tmp_path):
    from hub.classifier import Prediction

    sketch = _sketch()
    path = tmp_path / "digit.png"
    sketch.save(path)
    inputs = [sketch, np.asarray(sketch), str(path), path, path.read_bytes(), _sketch("RGB"), _sketch("L"),
              np.zeros((28, 28), np.uint8) + np.eye(28, dtype=np.uint8) * 255]
    for item in inputs:
        prediction = clf.predict(item)
        assert isinstance(prediction, Prediction), type(item)
        assert isinstance(prediction.label, int) and 0 <= prediction.label <= 9
    same = [clf.predict_proba(item) for item in inputs[:5]]
    for other in same[1:]:
        np.testing.assert_allclose(other, same[0], atol=1e-5)


def test_many_images_in_a_list(clf, tmp_path):
    images = [_sketch(), np.asarray(_sketch("RGB")), np.zeros((28, 28, 1), np.float32)]
    images[2][5:23, 13:15, 0] = 1.0
    assert clf.predict_proba(images).shape == (3, 10)
    assert len(clf.predict(images)) == 3
    big = np.zeros((2500, 28, 28), np.uint8)
    big[:, 4:24, 13:15] = 255  # MNIST-form 1s
    assert clf.predict_proba(big).shape == (2500, 10)  # chunked model calls


def test_empty_canvas_raises_no_digit(clf):
    from hub.preprocess import NoDigitError

    with pytest.raises(NoDigitError):
        clf.predict(Image.new("RGBA", (400, 400), (0, 0, 0, 0)))


def test_metadata_attributes(clf, model_dir):
    assert clf.config == json.loads((model_dir / "classifier.json").read_text())
    assert clf.metrics == json.loads((model_dir / "metrics.json").read_text())
    assert clf.folder == model_dir


def test_local_folder_errors(model_dir, tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError, NotAnMnistClassifierError

    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / "metrics.json").unlink()
    assert MnistClassifier.from_pretrained(folder).metrics is None
    (folder / "model.weights.h5").unlink()  # model.tflite is what runs: the Keras files are not needed
    assert MnistClassifier.from_pretrained(folder).runtime.flatbuffer == (folder / "model.tflite").read_bytes()
    (folder / "model.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelLoadError, match="model.tflite in the folder .* could not be loaded by LiteRT"):
        MnistClassifier.from_pretrained(folder)
    (folder / "model.tflite").unlink()
    with pytest.raises(ModelLoadError, match="has no model.tflite and is missing model.weights.h5"):
        MnistClassifier.from_pretrained(folder)
    (folder / "classifier.json").unlink()
    with pytest.raises(NotAnMnistClassifierError, match="not an MNIST classifier repo made by this project"):
        MnistClassifier.from_pretrained(folder)
    (folder / "classifier.json").write_text(json.dumps({"format": "mnist-digit-classifier", "format_version": 9,
                                                        "labels": list("0123456789")}))
    with pytest.raises(ModelLoadError, match="format_version 9"):
        MnistClassifier.from_pretrained(folder)
    (folder / "classifier.json").write_text(json.dumps({"format": "mnist-digit-classifier", "format_version": 1,
                                                        "labels": list("01234")}))
    shutil.copyfile(model_dir / "model.tflite", folder / "model.tflite")
    with pytest.raises(ModelLoadError, match="has 11 outputs but classifier.json lists 5 labels"):
        MnistClassifier.from_pretrained(folder)


# ---------------------------------------------------------------------- calibration and not_a_digit (format 2)

V2_LABELS = [str(d) for d in range(10)] + ["not_a_digit"]


def _v2_config(temperature=2.0, threshold=0.5, labels=V2_LABELS):
    return {"format": "mnist-digit-classifier", "format_version": 2, "labels": labels,
            "calibration": {"method": "temperature", "temperature": temperature, "fitted_on": "test"},
            "decline_threshold": threshold}


def _fixed_runtime(rows):
    """A stand-in network that answers every image of a batch with the next of `rows` (cycled)."""
    rows = np.asarray(rows, np.float32)
    return lambda x: rows[np.arange(len(x)) % len(rows)]


def _one_digit_batch(n=1):
    x = np.zeros((n, 28, 28, 1), np.float32)
    x[:, 4:24, 13:15] = 1.0  # MNIST form: used as is
    return x


def test_v2_probabilities_are_calibrated_and_renormalised_over_the_digits():
    from hub.calibration import apply_temperature
    from hub.classifier import MnistClassifier

    raw = np.array([[0.5, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.04, 0.01, 0.05],
                    [0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.97]], np.float32)
    clf = MnistClassifier(_fixed_runtime(raw), _v2_config(temperature=2.0))
    assert clf.digit_labels == [str(d) for d in range(10)] and clf.labels == V2_LABELS
    assert clf.temperature == 2.0 and clf.decline_threshold == 0.5
    digits = clf.predict_proba(_one_digit_batch(2))
    assert digits.shape == (2, 10) and digits.dtype == np.float32
    np.testing.assert_allclose(digits.sum(axis=1), 1.0, atol=1e-6)
    calibrated = apply_temperature(raw, 2.0)
    np.testing.assert_allclose(digits, calibrated[:, :10] / calibrated[:, :10].sum(axis=1, keepdims=True), atol=1e-6)
    assert digits[0, 0] < raw[0, 0] / raw[0, :10].sum()  # T > 1 softens
    not_a_digit = clf.not_a_digit_proba(_one_digit_batch(2))
    assert not_a_digit.shape == (2,)
    np.testing.assert_allclose(not_a_digit, calibrated[:, 10], atol=1e-6)
    assert list(clf.declines(not_a_digit)) == [False, True]
    first, second = clf.predict(_one_digit_batch(2))
    assert first.label == 0 and set(first.probabilities) == set(clf.digit_labels)
    assert first.not_a_digit == pytest.approx(calibrated[0, 10], abs=1e-6)
    assert second.not_a_digit > 0.5


def test_v1_config_means_temperature_one_and_never_declining():
    from hub.classifier import MnistClassifier

    raw = np.full((1, 10), 0.01, np.float32)
    raw[0, 7] = 0.91
    clf = MnistClassifier(_fixed_runtime(raw), {"format": "mnist-digit-classifier", "format_version": 1,
                                                "labels": [str(d) for d in range(10)]})
    assert clf.temperature == 1.0 and clf.decline_threshold is None
    np.testing.assert_array_equal(clf.predict_proba(_one_digit_batch()), raw)  # the softmax as it is
    np.testing.assert_array_equal(clf.not_a_digit_proba(_one_digit_batch()), [0.0])
    assert not clf.declines(np.array([1.0])).any()
    prediction = clf.predict(_one_digit_batch()[0])
    assert prediction.label == 7 and prediction.not_a_digit == 0.0


def test_v2_folder_loads_and_unknown_versions_do_not(tmp_path):
    """A format_version 2 classifier.json loads (its temperature and threshold used); a newer one asks for an
    update."""
    from hub.classifier import MnistClassifier, ModelLoadError

    folder = shutil.copytree(ROOT / "models" / "mnist-cnn", tmp_path / "v2")  # the release model: format 2
    config = json.loads((folder / "classifier.json").read_text())
    release = MnistClassifier.from_pretrained(folder)
    assert release.temperature == config["calibration"]["temperature"]
    assert release.decline_threshold == config["decline_threshold"] and "not_a_digit" in config["labels"]
    config.update(calibration={"method": "temperature", "temperature": 3 * release.temperature})
    (folder / "classifier.json").write_text(json.dumps(config))
    hotter = MnistClassifier.from_pretrained(folder)
    assert hotter.temperature == pytest.approx(3 * release.temperature)
    x = _one_digit_batch()
    assert hotter.predict(x[0]).label == release.predict(x[0]).label
    assert hotter.predict(x[0]).confidence < release.predict(x[0]).confidence
    config.update(format_version=3)
    (folder / "classifier.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="format_version 3"):
        MnistClassifier.from_pretrained(folder)
    config.update(format_version=2, calibration={"temperature": 0})
    (folder / "classifier.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="temperature 0"):
        MnistClassifier.from_pretrained(folder)
