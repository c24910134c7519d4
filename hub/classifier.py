"""`MnistClassifier`: load a published MNIST model (Hub repo id or local folder) and classify any image.

Why a class of our own: the Hub repo holds the network twice, as `model.tflite` (run here through LiteRT, without
TensorFlow: a small install and ~0.2 ms per image) and as a plain Keras model (for
`keras.saving.load_model("hf://...")`), plus `classifier.json`, which says how inputs must be prepared. This class
downloads them through `huggingface_hub.snapshot_download` (so caching, revisions, tokens and offline mode are the
library's) and applies the project's preprocessing (`hub.preprocess`). Folders and repos written before
`model.tflite` existed still load: from the Keras files, converted to LiteRT in memory (this needs TensorFlow).

Confidences: classifier.json (format_version 2) carries a calibration temperature, fitted on the validation split
(`hub.calibration`), and the model may have an extra "not_a_digit" output with a `decline_threshold`. The digit
probabilities this class returns are calibrated and renormalised over the 10 digits ("which digit, if it is one");
P(not_a_digit) is reported beside them. Version-1 folders (10 outputs, no calibration) read as temperature 1,
P(not_a_digit) = 0, never declined. A folder may also carry `feature_distance.npz` (`hub.feature_distance`): then
`scores` gives each image's distance to the digits the model was trained on, and `declines` counts a distance at
or beyond its threshold as "not a digit" too.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub import preprocess
from hub.calibration import apply_temperature
from hub.feature_distance import FILE as FEATURE_DISTANCE_FILE
from hub.feature_distance import FeatureDistance
from hub.litert import LiteRTModel
from hub.model_folder import (CARD_FILE, CLASSIFIER_CONFIG, CLASSIFIER_FILE, KERAS_FILES, METRICS_FILE,
                              NOT_A_DIGIT, TFLITE_FILE)
from hub.model_folder import DIGIT_LABELS as DIGITS

__all__ = ["LiteRTModel", "MnistClassifier", "ModelLoadError", "NotAnMnistClassifierError", "Prediction"]

FORMAT = CLASSIFIER_CONFIG["format"]
FORMAT_VERSION = CLASSIFIER_CONFIG["format_version"]
READABLE_VERSION = max(FORMAT_VERSION, 2)  # version 2 added calibration and the not_a_digit output
# What from_pretrained downloads: the model and what describes it, not the card's plots.
DOWNLOAD_PATTERNS = [TFLITE_FILE, *KERAS_FILES, CLASSIFIER_FILE, FEATURE_DISTANCE_FILE, METRICS_FILE, CARD_FILE]
CHUNK = 1024  # images per model call for big batches (bounded memory, full speed)

log = logging.getLogger(__name__)


class ModelLoadError(OSError):
    """The model could not be loaded; the message says what was wrong and what to do."""


class NotAnMnistClassifierError(ModelLoadError):
    """The folder/repo exists but was not written by this project (no or wrong classifier.json)."""


@dataclass(frozen=True)
class Prediction:
    """The most probable digit, its calibrated confidence, all 10 digit probabilities (renormalised over the
    digits) and the calibrated probability that the image is no digit at all (0 for models without that class)."""

    label: int | str
    confidence: float
    probabilities: dict[str, float]
    not_a_digit: float = 0.0


class MnistClassifier:
    """The network (`runtime`: numpy (N, 28, 28, 1) float32 -> (N, L) softmax over `labels`) plus its
    `classifier.json`.

    `runtime` is a `LiteRTModel` (its `flatbuffer` bytes build worker processes), or, for a Keras-only folder
    where LiteRT is unavailable, a traced TensorFlow function. `metrics` is the folder's metrics.json as a dict.
    `labels` are the network's outputs (10 digits, plus "not_a_digit" for format_version 2 models);
    `digit_labels` the 10 digits that `predict_proba` returns. `temperature` and `decline_threshold` come from
    classifier.json (1 and None, "never decline", when it has none). `feature_distance` is the folder's
    `FeatureDistance` (None without one, or when the runtime gives no features).
    """

    def __init__(self, runtime, config: dict, metrics: dict | None = None, folder: str | Path | None = None,
                 source: str | None = None, commit_hash: str | None = None,
                 feature_distance: FeatureDistance | None = None):
        self.runtime = runtime
        self.feature_distance = feature_distance
        self.config = config
        self.metrics = metrics
        self.folder = Path(folder) if folder is not None else None
        self.source = source
        self.commit_hash = commit_hash
        self.labels = [str(label) for label in config["labels"]]
        self.digit_labels = [label for label in self.labels if label in DIGITS]
        self._digit_columns = [self.labels.index(label) for label in self.digit_labels]
        self._not_a_digit_column = self.labels.index(NOT_A_DIGIT) if NOT_A_DIGIT in self.labels else None
        self.temperature = float((config.get("calibration") or {}).get("temperature", 1.0))
        threshold = config.get("decline_threshold")
        self.decline_threshold = float(threshold) if threshold is not None and self._not_a_digit_column is not None \
            else None
        self.runtime(np.zeros((1, 28, 28, 1), np.float32))  # warm up now, not on the first user request

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, repo_id_or_path: str | os.PathLike, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None, local_files_only: bool = False,
                        token: str | bool | None = None) -> "MnistClassifier":
        """Load from a local model folder, or from a Hub repo id ("user/name", optionally "hf://user/name").

        `revision` (branch, tag or commit sha), `cache_dir`, `local_files_only` and `token` are passed to
        `huggingface_hub.snapshot_download`; HF_HUB_OFFLINE=1 loads from the cache without network.
        """
        from hub import hub_io

        source = os.fspath(repo_id_or_path)
        path = Path(source).expanduser()
        if path.is_dir():
            return cls.from_folder(path)
        repo_id = source[len("hf://"):] if source.startswith("hf://") else source
        if _looks_like_path(source) or not _is_repo_id(repo_id):
            raise ModelLoadError(
                f"{source!r} is neither an existing model folder nor a Hub repo id like 'user/mnist-cnn'. "
                "Pass the folder train.py wrote (e.g. outputs/mnist-cnn) or the id of a pushed repo."
            )
        try:
            folder = hub_io.download(repo_id, allow_patterns=DOWNLOAD_PATTERNS, revision=revision,
                                     cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        except hub_io.HubError as e:
            raise ModelLoadError(str(e)) from e
        commit = Path(folder).name if Path(folder).parent.name == "snapshots" else None
        return cls.from_folder(folder, source=repo_id, commit_hash=commit)

    @classmethod
    def from_folder(cls, folder: str | Path, source: str | None = None,
                    commit_hash: str | None = None) -> "MnistClassifier":
        """Load from a model folder on disk (what train.py writes, or a downloaded snapshot)."""
        folder = Path(folder)
        where = f"repo '{source}'" if source else f"folder {folder}"
        config = _read_json(folder / CLASSIFIER_FILE)
        if config is None:
            raise NotAnMnistClassifierError(
                f"The {where} has no {CLASSIFIER_FILE}: it is not an MNIST classifier repo made by this project. "
                "Use a folder written by train.py / a repo pushed with `python -m hub.push`, or load a plain Keras "
                "model with keras.saving.load_model()."
            )
        _check_config(config, where)
        runtime = _load_runtime(folder, where)
        outputs = getattr(runtime, "num_outputs", None)
        if outputs is not None and outputs != len(config["labels"]):
            raise ModelLoadError(f"The model in the {where} has {outputs} outputs but {CLASSIFIER_FILE} lists "
                                 f"{len(config['labels'])} labels.")
        if sorted(str(label) for label in config["labels"] if str(label) in DIGITS) != DIGITS:
            raise ModelLoadError(f"The {CLASSIFIER_FILE} in the {where} must list the 10 digits '0'..'9' among its "
                                 f"labels; it lists {config['labels']}.")
        return cls(runtime, config, _read_json(folder / METRICS_FILE), folder=folder, source=source or str(folder),
                   commit_hash=commit_hash, feature_distance=_load_feature_distance(folder, config, runtime, where))

    # ------------------------------------------------------------------ inference
    def predict_proba(self, images) -> np.ndarray:
        """Digit probabilities, float32 (N, 10), calibrated and renormalised over the digits ("which digit, if it
        is one"), for one image or many (paths, PIL images, arrays, ...)."""
        return self.probabilities(self._batch(images)[0])[0]

    def not_a_digit_proba(self, images) -> np.ndarray:
        """Calibrated P(not a digit), float32 (N,); zeros for a model without that class."""
        return self.probabilities(self._batch(images)[0])[1]

    def probabilities(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model input (N, 28, 28, 1) -> (digit probabilities (N, 10), P(not a digit) (N,)), both calibrated."""
        return self._calibrated(self._run(batch))

    def scores(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Model input -> (digit probabilities, P(not a digit), feature distance (N,) or None without one), from
        one model call."""
        if self.feature_distance is None:
            return (*self.probabilities(batch), None)
        parts = _in_chunks(self.runtime.run, batch)
        raw = np.concatenate([p for p, _ in parts])
        distance = self.feature_distance.distance(np.concatenate([f for _, f in parts]))
        return (*self._calibrated(raw), distance.astype(np.float32))

    def _calibrated(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.temperature == 1.0 and self._not_a_digit_column is None and self._digit_columns == list(range(10)):
            return raw, np.zeros(len(raw), np.float32)  # a version-1 model: its softmax as it is
        calibrated = apply_temperature(raw, self.temperature)
        digits = calibrated[:, self._digit_columns]
        digits /= np.maximum(digits.sum(axis=1, keepdims=True), np.finfo(np.float32).tiny)
        if self._not_a_digit_column is None:
            return digits, np.zeros(len(raw), np.float32)
        return digits, calibrated[:, self._not_a_digit_column].copy()

    def declines(self, not_a_digit, distance=None) -> np.ndarray:
        """Which symbols are no digit: calibrated P(not a digit) at or above the model's decline threshold (never,
        without one), or a feature distance at or beyond its threshold (when given and the folder has one)."""
        not_a_digit = np.asarray(not_a_digit)
        declined = np.zeros(not_a_digit.shape, bool) if self.decline_threshold is None \
            else not_a_digit >= self.decline_threshold
        if distance is not None and self.feature_distance is not None:
            declined |= np.asarray(distance) >= self.feature_distance.threshold
        return declined

    def unlike_digits(self, distance) -> np.ndarray | bool:
        """Which feature distances are at or beyond the threshold (False, broadcastable, without them)."""
        if distance is None or self.feature_distance is None:
            return False
        return np.asarray(distance) >= self.feature_distance.threshold

    def _run(self, batch: np.ndarray) -> np.ndarray:
        parts = _in_chunks(self.runtime, batch)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict(self, images):
        """One image -> Prediction; a list / batch array of images -> list[Prediction]."""
        batch, single = self._batch(images)
        digits, not_a_digit = self.probabilities(batch)
        predictions = [self._prediction(p, q) for p, q in zip(digits, not_a_digit)]
        return predictions[0] if single else predictions

    def read_number(self, image):
        """Read the digits of one image left to right -> `hub.reading.NumberReading` (see there)."""
        from hub.reading import read_number

        return read_number(self, image)

    def __call__(self, images):
        return self.predict(images)

    def _prediction(self, p: np.ndarray, not_a_digit: float = 0.0) -> Prediction:
        index = int(np.argmax(p))
        label = self.digit_labels[index]
        return Prediction(label=int(label) if label.isdigit() else label, confidence=float(p[index]),
                          probabilities={name: float(v) for name, v in zip(self.digit_labels, p)},
                          not_a_digit=float(not_a_digit))

    @staticmethod
    def _batch(images) -> tuple[np.ndarray, bool]:
        """(model input batch, whether a single image was given)."""
        if isinstance(images, np.ndarray):
            if images.dtype == np.float32 and images.ndim == 4 and images.shape[1:] == (28, 28, 1) \
                    and preprocess.is_mnist_form(images[..., 0]).all():
                return images, False  # already model input (e.g. predict -> predict_proba); else preprocessed
            single = images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 2, 3, 4))
            if single:
                return preprocess.to_model_batch([images]), True
            return preprocess.to_model_batch(images), False
        if isinstance(images, (list, tuple)):
            return preprocess.to_model_batch(list(images)), False
        return preprocess.to_model_batch([images]), True  # path, bytes, PIL image, file-like, ...

    def __repr__(self) -> str:
        return f"MnistClassifier(source={self.source!r}, commit={self.commit_hash!r})"


# ---------------------------------------------------------------------- helpers


def _load_runtime(folder: Path, where: str):
    """model.tflite through LiteRT; without it (folders from before it existed), the Keras files."""
    tflite = folder / TFLITE_FILE
    if tflite.is_file():
        try:
            return LiteRTModel(tflite.read_bytes())
        except Exception as e:  # not a flatbuffer, truncated download, ...
            raise ModelLoadError(f"{TFLITE_FILE} in the {where} could not be loaded by LiteRT ({e}). Push the "
                                 "model folder again with `python -m hub.push FOLDER REPO_ID`.") from e
    missing = [name for name in KERAS_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"The {where} has no {TFLITE_FILE} and is missing {', '.join(missing)} (the Keras model files). The "
            "upload was probably incomplete: push the model folder again with `python -m hub.push FOLDER REPO_ID`."
        )
    from hub.model_folder import load_keras_model

    try:
        model = load_keras_model(folder)
    except ImportError as e:
        raise ModelLoadError(f"The {where} has no {TFLITE_FILE}, only the Keras files, which need TensorFlow: "
                             "install it (pip install \"mnist-cnn-hub[train]\") or load a folder trained with "
                             f"this version, which writes {TFLITE_FILE}.") from e
    except Exception as e:  # corrupt weights, unknown layers, ...
        raise ModelLoadError(f"Keras could not load the model in the {where}: {e}") from e
    log.info("%s has no %s: converting its Keras model to LiteRT in memory", where, TFLITE_FILE)
    return keras_runtime(model)


def keras_runtime(model):
    """A loaded Keras model as a function numpy -> numpy: LiteRT when it converts, else one traced tf.function."""
    from hub import litert

    try:
        return LiteRTModel(litert.convert(model))
    except Exception as e:  # no ai_edge_litert, another Keras backend, a layer LiteRT cannot convert
        log.warning("LiteRT not used (%s: %s); running the model through TensorFlow (slower per call)",
                    type(e).__name__, e)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        return lambda x: fn(np.ascontiguousarray(x, dtype=np.float32)).numpy()
    return lambda x: keras.ops.convert_to_numpy(model(np.asarray(x, np.float32), training=False))


def _in_chunks(run, batch: np.ndarray) -> list:
    """`run` on at most CHUNK images at a time (bounded memory, full speed); an empty batch is one call."""
    return [run(batch[i:i + CHUNK]) for i in range(0, max(len(batch), 1), CHUNK)]


def _load_feature_distance(folder: Path, config: dict, runtime, where: str) -> FeatureDistance | None:
    """The folder's FeatureDistance, if classifier.json names one and the runtime gives features."""
    block = config.get("feature_distance")
    if not block:
        return None
    if getattr(runtime, "num_features", None) is None:
        log.warning("the %s has %s but its model gives no features: symbols are declined by the not_a_digit "
                    "class alone", where, FEATURE_DISTANCE_FILE)
        return None
    try:
        fitted = FeatureDistance.load(folder, float(block["threshold"]))
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelLoadError(f"The {where} lists {FEATURE_DISTANCE_FILE} in {CLASSIFIER_FILE}, but it could not be "
                             f"read ({type(e).__name__}: {e}). The download was probably incomplete: push the model "
                             "folder again with `python -m hub.push FOLDER REPO_ID`.") from e
    if fitted.whiten.shape[0] != runtime.num_features:
        raise ModelLoadError(f"{FEATURE_DISTANCE_FILE} in the {where} was fitted on {fitted.whiten.shape[0]} "
                             f"features, but its model gives {runtime.num_features}: it belongs to another model. "
                             "Refit it with `python -m hub.feature_distance FOLDER`.")
    return fitted


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path.name} in {path.parent} is not valid JSON ({e}).") from e


def _check_config(config: dict, where: str) -> None:
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise NotAnMnistClassifierError(
            f"The {CLASSIFIER_FILE} in the {where} is not an '{FORMAT}' file: it is not an MNIST classifier "
            "repo made by this project."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > READABLE_VERSION:
        raise ModelLoadError(
            f"The {where} uses {CLASSIFIER_FILE} format_version {version!r}; this code reads versions up to "
            f"{READABLE_VERSION}. Update the project (git pull) to load it."
        )
    labels = config.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ModelLoadError(f"The {CLASSIFIER_FILE} in the {where} has no 'labels' list.")
    temperature = (config.get("calibration") or {}).get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ModelLoadError(f"The {CLASSIFIER_FILE} in the {where} has calibration temperature {temperature!r}; "
                             "it must be a positive number.")
    shape = (config.get("input") or {}).get("shape")
    if shape is not None and list(shape) != [28, 28, 1]:
        raise ModelLoadError(f"The {where} expects input shape {shape}; MnistClassifier feeds [28, 28, 1].")


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or os.sep in source.replace("/", "") or source.count("/") > 1 \
        or Path(source).suffix in (".keras", ".h5", ".json")


def _is_repo_id(repo_id: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return True
