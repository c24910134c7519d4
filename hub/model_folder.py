"""The Hub-ready model folder: Keras' native files plus what our loader and the model card need.

Layout (the same locally, in the Hub repo and in the Hugging Face cache):
    config.json, metadata.json, model.weights.h5   Keras 3 native format (`hf://` compatible)
    classifier.json                                labels and input contract for hub.classifier
    metrics.json                                   every figure of the run that wrote the folder
    README.md                                      the model card
    assets/*.png                                   plots embedded in the card
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")
CLASSIFIER_FILE = "classifier.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
ASSETS_DIR = "assets"
REQUIRED_FILES = KERAS_FILES + (CLASSIFIER_FILE,)

LABELS = [str(d) for d in range(10)]
CLASSIFIER_CONFIG = {
    "format": "mnist-digit-classifier",
    "format_version": 1,
    "labels": LABELS,
    "input": {"shape": [28, 28, 1], "dtype": "float32", "range": [0.0, 1.0], "polarity": "white-on-black"},
    "preprocessing": {"canvas": 28, "digit_box": 20, "centering": "center-of-mass"},
}


def write_json(folder: str | Path, name: str, data: dict) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def read_json(folder: str | Path, name: str) -> dict | None:
    """A JSON file of the folder, or None when the folder has no such file."""
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.is_file() else None


def save_model(model, folder: str | Path) -> Path:
    """Write the Keras files and classifier.json; the card, metrics and plots are added by the caller.

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
    write_json(folder, CLASSIFIER_FILE, CLASSIFIER_CONFIG)
    return folder


def model_bytes(folder: str | Path) -> int:
    """Size of the files a Keras user downloads to run the model."""
    return sum((Path(folder) / name).stat().st_size for name in KERAS_FILES)


def missing_files(folder: str | Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (Path(folder) / name).is_file()]


def load_keras_model(folder: str | Path):
    """Load the Keras model in safe mode (no arbitrary code from the folder runs)."""
    import keras

    return keras.saving.load_model(Path(folder), compile=False, safe_mode=True)
