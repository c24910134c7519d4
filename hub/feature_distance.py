"""How unlike every digit the model was trained on a drawing is: the Mahalanobis distance of the network's
penultimate features to the nearest digit class (class means and one shared covariance, fitted on training
digits; Lee et al., 2018, "A Simple Unified Framework for Detecting Out-of-Distribution Samples").

Why beside the "not_a_digit" class: that class knows only the kinds of non-digit it was trained on
(`hub.negatives`). A drawing unlike both the digits and those, such as two touching digits taken for one or a
doodle of a kind it never saw, can still get a confident digit, and a confident wrong answer is the worst
answer this project can give. `benchmarks/decline_methods.py` measures the two ways against each other and
together; `hub.reading` declines a symbol when either says so.

The threshold is the QUANTILE of the distances of the validation digits (held out from training), so no test
set picks it. The means and the whitening matrix live in `feature_distance.npz` beside the model (numpy only:
no pickle, no TensorFlow); the threshold and how it was fitted are in classifier.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

__all__ = ["FILE", "FIT_DIGITS", "QUANTILE", "FeatureDistance"]

FILE = "feature_distance.npz"
FIT_DIGITS = 20_000  # training digits the class means and the covariance are fitted on
QUANTILE = 0.999  # the threshold: this share of the validation digits is closer to a digit class


@dataclass(frozen=True)
class FeatureDistance:
    """Class means (C, D) and a whitening matrix (D, D) with `whiten @ whiten.T` = the shared covariance's inverse;
    `threshold`: the distance from which a symbol counts as unlike any digit."""

    means: np.ndarray
    whiten: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, validation_features: np.ndarray,
            quantile: float = QUANTILE) -> "FeatureDistance":
        """Fit on training digits' features and their labels; the threshold on validation digits' features."""
        features = np.asarray(features, np.float64)
        classes = np.unique(labels)
        means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        centred = features - means[np.searchsorted(classes, labels)]
        covariance = centred.T @ centred / len(features) + 1e-6 * np.eye(features.shape[1])
        # inverse = whiten @ whiten.T, so a distance is a norm of whitened differences (cheaper than a quadratic form)
        whiten = np.linalg.cholesky(np.linalg.inv(covariance))
        unfitted = cls(means, whiten, np.inf)
        threshold = float(np.quantile(unfitted.distance(validation_features), quantile))
        return cls(means, whiten, threshold)

    def distance(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N,) distance to the nearest class mean."""
        z = np.asarray(features, np.float64) @ self.whiten
        centres = self._centres
        squared = (z * z).sum(axis=1)[:, None] - 2.0 * z @ centres.T + (centres * centres).sum(axis=1)[None, :]
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0))

    @cached_property
    def _centres(self) -> np.ndarray:
        """The class means, whitened once (every read_number call measures distances to them)."""
        return self.means @ self.whiten

    def is_far(self, features: np.ndarray) -> np.ndarray:
        return self.distance(features) >= self.threshold

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        with path.open("wb") as f:  # a file object: np.savez would append ".npz" to a name without it
            np.savez(f, means=self.means.astype(np.float32), whiten=self.whiten.astype(np.float32))
        return path

    @classmethod
    def load(cls, folder: str | Path, threshold: float) -> "FeatureDistance":
        with np.load(Path(folder) / FILE, allow_pickle=False) as data:
            return cls(data["means"].astype(np.float64), data["whiten"].astype(np.float64), float(threshold))

    def config(self, fitted_on: str) -> dict:
        """The classifier.json block that says the folder has this file and where its threshold came from."""
        return {"file": FILE, "threshold": round(self.threshold, 3), "fitted_on": fitted_on}


def fit_for_model(model, mnist, validation_size: int, seed: int,
                  fit_digits: int = FIT_DIGITS) -> tuple[FeatureDistance, str]:
    """(FeatureDistance, how it was fitted) for a trained Keras model: fitted on MNIST training digits of the
    model's own split (`validation_size`, `seed`, as train.py made it), the threshold on its validation digits."""
    from hub.data import split_validation
    from hub.model import with_features
    from hub.preprocess import mnist_to_input

    (x_train, y_train), (x_val, _) = split_validation(mnist.x_train, mnist.y_train, validation_size, seed)
    pick = np.random.default_rng(seed).choice(len(x_train), size=min(fit_digits, len(x_train)), replace=False)
    net = with_features(model)

    def features(images):
        return net.predict(mnist_to_input(images), batch_size=1024, verbose=0)[0]

    fitted = FeatureDistance.fit(features(x_train[pick]), y_train[pick], features(x_val))
    return fitted, (f"{len(pick):,} training digits, its threshold on the {len(x_val):,} validation digits "
                    f"({QUANTILE:.1%} of them are closer)")


def main(argv=None) -> int:
    """`python -m hub.feature_distance FOLDER`: add the feature distance to a model folder written without it."""
    import argparse
    import json
    import os
    import sys

    parser = argparse.ArgumentParser(prog="python -m hub.feature_distance", description=main.__doc__.split(": ", 1)[1])
    parser.add_argument("folder", type=Path, help="model folder written by train.py (e.g. outputs/mnist-cnn)")
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: data/mnist)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hub import data, model_folder

    from hub.preprocess import mnist_to_input

    metrics = json.loads((args.folder / model_folder.METRICS_FILE).read_text())
    config = json.loads((args.folder / model_folder.CLASSIFIER_FILE).read_text())
    model = model_folder.load_keras_model(args.folder)
    mnist = data.load_mnist(args.data_dir)
    fitted, fitted_on = fit_for_model(model, mnist, metrics["hyperparameters"].get("validation_size", 5000),
                                      metrics["seed"])
    model_folder.write_litert(model, args.folder)  # with the features output the distance needs
    x_test = mnist_to_input(mnist.x_test)  # and still the same answers as the Keras model (as train.py checks)
    metrics["tflite_max_abs_diff"] = model_folder.check_tflite(args.folder, x_test,
                                                               model.predict(x_test, batch_size=1024, verbose=0))
    metrics["tflite_bytes"] = (args.folder / model_folder.TFLITE_FILE).stat().st_size
    model_folder.write_json(args.folder, model_folder.METRICS_FILE, metrics)
    fitted.save(args.folder)
    model_folder.write_json(args.folder, model_folder.CLASSIFIER_FILE, {**config, "feature_distance":
                                                                         fitted.config(fitted_on)})
    print(f"{args.folder}: {FILE} written (threshold {fitted.threshold:.2f}; {fitted_on}); "
          f"{model_folder.TFLITE_FILE} now also outputs the features", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
