"""The figures of one training run, as one explicit schema: what train.py writes to metrics.json and the card reads.

Why a dataclass: the card, the Space and anyone reading metrics.json rely on the same names; a field added,
renamed or forgotten shows up here (and as a clear error when reading a file that does not match), not as a
KeyError deep in the card's template.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from hub.model_folder import METRICS_FILE


class MetricsError(ValueError):
    """A metrics.json (or dict) does not match RunMetrics; the message says which fields."""


@dataclass(frozen=True)
class RunMetrics:
    # On the test set, from hub.evaluate.metrics_from_probabilities (model.predict of the float32 Keras model).
    test_accuracy: float
    test_loss: float
    test_samples: int
    per_class: dict  # digit -> {"precision", "recall", "f1-score", "support"}
    macro_avg: dict  # same keys as a per_class row
    weighted_avg: dict
    confusion_matrix: list  # rows: true digit, columns: predicted digit
    # Training.
    val_accuracy: float  # of the saved model (for one network: the epoch whose weights were kept)
    val_samples: int
    train_samples: int
    epochs_run: int
    best_epoch: int  # 1-based: the epoch whose weights early stopping kept (hub.training.kept_epoch)
    epoch_seconds: list
    train_seconds: float
    total_seconds: float  # the whole run except writing the card
    history: dict  # Keras' History.history: metric name -> one value per epoch
    hyperparameters: dict
    preset: str
    seed: int
    data_source: str
    # The saved model.
    params: int
    model_bytes: int  # the Keras files
    # Where and when.
    hardware: str
    software: dict  # package -> version
    date: str
    # model.tflite, checked at save time against the Keras model on every test image (None: folder without it).
    tflite_bytes: int | None = None
    tflite_max_abs_diff: float | None = None  # largest |LiteRT - Keras| over all test probabilities
    # The "not_a_digit" class and calibration (None: folders from before they existed).
    non_digit_samples: dict | None = None  # {"train": n, "val": n} synthetic non-digits (hub.negatives), and
    # "touching_pairs": {"train": n, "val": n} pairs of touching digits, also in the not_a_digit class
    drawn_digit_samples: dict | None = None  # {"train": n, "val": n} digits redrawn like users' (hub.drawn_digits)
    calibration: dict | None = None  # temperature, ECE before/after on test and validation digits
    not_a_digit: dict | None = None  # threshold, share of test digits / validation non-digits declined
    # An ensemble's members (None: one network): [{"name", "seed", "test_accuracy"}], each member alone.
    members: list | None = None
    # Fine-tuned (train.py --init-from): the starting folder, its test accuracy, recipe, seed, date and hardware.
    initialized_from: dict | None = None

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict) -> "RunMetrics":
        if not isinstance(data, dict):
            raise MetricsError(f"metrics must be a dict (the content of {METRICS_FILE}), got {type(data).__name__}")
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        unknown = sorted(set(data) - set(cls.fields()))
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
                       ([f"unknown {', '.join(unknown)}"] if unknown else [])
            raise MetricsError(f"{METRICS_FILE} does not match hub.metrics.RunMetrics ({'; '.join(problems)}). "
                               "Write it with train.py (or RunMetrics(...).write(folder)).")
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, folder: str | Path) -> "RunMetrics":
        path = Path(folder) / METRICS_FILE
        if not path.is_file():
            raise MetricsError(f"{path} not found: write the model folder with train.py first.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MetricsError(f"{path} is not valid JSON ({e}).") from e
        return cls.from_dict(data)

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / METRICS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path
