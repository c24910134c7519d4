"""The Hub-ready model folder: Keras' native files, the LiteRT file, and what our loader and the card need.

Layout (the same locally, in the Hub repo and in the Hugging Face cache):
    model.tflite                                   the network for inference without TensorFlow (hub.classifier)
    feature_distance.npz                           class means and covariance of its features (hub.feature_distance)
    config.json, metadata.json, model.weights.h5   Keras 3 native format (`keras.saving.load_model("hf://...")`)
    classifier.json                                labels and input contract for hub.classifier
    metrics.json                                   every figure of the run that wrote the folder (hub.metrics)
    README.md                                      the model card (hub.card)
    reading.json                                   optional: benchmarks/reading.py's figures, shown in the card
    assets/*.png                                   plots embedded in the card
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")
TFLITE_FILE = "model.tflite"
CLASSIFIER_FILE = "classifier.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
READING_FILE = "reading.json"  # written by `benchmarks/reading.py --update-card`
ASSETS_DIR = "assets"
# The plots under assets/ (hub.plots draws them, the model card embeds them) and the widget's example digits.
ASSET_NAMES = {
    "samples": "samples.png",
    "training_curves": "training_curves.png",
    "confusion_matrix": "confusion_matrix.png",
    "predictions": "predictions.png",
    "mistakes": "mistakes.png",
}
EXAMPLES_DIR = "examples"  # assets/examples/digit_<d>.png
# What a folder needs to be pushed: the Keras files keep `hf://` working; model.tflite is optional (older folders).
REQUIRED_FILES = KERAS_FILES + (CLASSIFIER_FILE,)

DIGIT_LABELS = [str(d) for d in range(10)]
# The 11th class: letters, scribbles and shapes (hub.negatives), so that the model can say "this is not a digit"
# instead of naming the digit it looks least unlike. Its index is the last one.
NOT_A_DIGIT = "not_a_digit"
LABELS = DIGIT_LABELS + [NOT_A_DIGIT]
NUM_CLASSES = len(LABELS)
NOT_A_DIGIT_INDEX = LABELS.index(NOT_A_DIGIT)
DEFAULT_DECLINE_THRESHOLD = 0.5  # decline when the calibrated P(not_a_digit) reaches this (benchmarks/reading.py)
CLASSIFIER_CONFIG = {
    "format": "mnist-digit-classifier",
    # 2: an 11th label "not_a_digit", "calibration" and "decline_threshold". Readers accept 1 (10 digits, T = 1).
    "format_version": 2,
    "labels": LABELS,
    "calibration": {"method": "temperature", "temperature": 1.0},
    "decline_threshold": DEFAULT_DECLINE_THRESHOLD,
    "input": {"shape": [28, 28, 1], "dtype": "float32", "range": [0.0, 1.0], "polarity": "white-on-black"},
    "preprocessing": {"canvas": 28, "digit_box": 20, "centering": "center-of-mass"},
}


def classifier_config(temperature: float = 1.0, fitted_on: str | None = None,
                      decline_threshold: float = DEFAULT_DECLINE_THRESHOLD) -> dict:
    """classifier.json for a trained model: the calibration fitted after training travels with the weights."""
    calibration = {"method": "temperature", "temperature": round(float(temperature), 4)}
    if fitted_on:
        calibration["fitted_on"] = fitted_on
    return {**CLASSIFIER_CONFIG, "calibration": calibration, "decline_threshold": float(decline_threshold)}


class LiteRTMismatchError(RuntimeError):
    """model.tflite does not answer like the Keras model it was converted from."""


def write_json(folder: str | Path, name: str, data: dict) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def save_model(model, folder: str | Path, config: dict | None = None) -> Path:
    """Write the Keras files, model.tflite and classifier.json (`config`, default: uncalibrated); the card, metrics
    and plots are added by the caller.

    Only the inference model is saved, without the optimizer's state (two thirds of a trained
    model's file). Keras saves through a fresh folder: its saver fails on a folder whose assets/
    already exists (ours holds the plots), and a re-run must overwrite the old files cleanly.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inference_model = model.__class__.from_config(model.get_config())
    inference_model.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        inference_model.save(tmp, zipped=False)
        for name in KERAS_FILES:
            shutil.copyfile(Path(tmp) / name, folder / name)
    write_litert(inference_model, folder)
    write_json(folder, CLASSIFIER_FILE, config or CLASSIFIER_CONFIG)
    return folder


def write_litert(model, folder: str | Path) -> Path:
    """model.tflite: the probabilities (its first output) and the features the feature distance reads."""
    from hub import litert
    from hub.model import with_features

    path = Path(folder) / TFLITE_FILE
    path.write_bytes(litert.convert(with_features(model)))
    return path


def check_tflite(folder: str | Path, images: np.ndarray, keras_probabilities: np.ndarray) -> float:
    """Run the folder's model.tflite on `images` and compare with the Keras model's probabilities for them.

    Returns the largest absolute difference of any probability. Raises LiteRTMismatchError if any image gets a
    different digit: a published model must answer the same through LiteRT and through `hf://` Keras.
    """
    from hub import litert

    runtime = litert.LiteRTModel((Path(folder) / TFLITE_FILE).read_bytes())
    keras_probabilities = np.asarray(keras_probabilities, np.float32)
    got = np.concatenate([runtime(images[i:i + 1024]) for i in range(0, len(images), 1024)])
    if got.shape != keras_probabilities.shape:
        raise LiteRTMismatchError(f"{TFLITE_FILE} answers with shape {got.shape}, the Keras model with "
                                  f"{keras_probabilities.shape}.")
    differ = np.flatnonzero(got.argmax(axis=1) != keras_probabilities.argmax(axis=1))
    max_abs_diff = float(np.max(np.abs(got - keras_probabilities)))
    if len(differ):
        raise LiteRTMismatchError(
            f"{TFLITE_FILE} in {folder} predicts a different digit than the Keras model for {len(differ)} of "
            f"{len(images):,} test images (first indices {differ[:10].tolist()}; largest probability difference "
            f"{max_abs_diff:.3g}). The conversion is broken: do not publish this folder; report the TensorFlow "
            "and ai-edge-litert versions."
        )
    return max_abs_diff


def model_bytes(folder: str | Path) -> int:
    """Size of the files a Keras user downloads to run the model."""
    return sum((Path(folder) / name).stat().st_size for name in KERAS_FILES)


def load_keras_model(folder: str | Path):
    """Load the Keras model in safe mode (no arbitrary code from the folder runs)."""
    import keras

    return keras.saving.load_model(Path(folder), compile=False, safe_mode=True)
