"""hub.plots: every figure is a valid, reasonably small PNG; random choices are seeded."""

import numpy as np
import pytest
from PIL import Image

from hub import plots
from hub.evaluate import metrics_from_probabilities

MAX_BYTES = 300_000


def _valid_png(path):
    assert path.is_file()
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width >= 300 and im.height >= 150
    return path


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    labels = np.arange(200) % 10
    logits = rng.normal(size=(200, 10))
    logits[np.arange(200), labels] += 2.5  # mostly right, some confident mistakes
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return images, labels, probs.astype(np.float32)


HISTORY = {
    "loss": [0.5, 0.2, 0.1],
    "accuracy": [0.85, 0.95, 0.97],
    "val_loss": [0.3, 0.15, 0.12],
    "val_accuracy": [0.9, 0.96, 0.97],
}


def test_samples(tmp_path, arrays):
    images, labels, _ = arrays
    path = plots.plot_samples(images, labels, tmp_path / "samples.png")
    assert path == tmp_path / "samples.png"
    _valid_png(path)
    # float (N, 28, 28, 1) input works too
    _valid_png(plots.plot_samples(images[..., None] / 255.0, labels, tmp_path / "f.png", n=7))


def test_samples_seeded(tmp_path, arrays):
    images, labels, _ = arrays
    a = plots.plot_samples(images, labels, tmp_path / "a.png", seed=1).read_bytes()
    b = plots.plot_samples(images, labels, tmp_path / "b.png", seed=1).read_bytes()
    c = plots.plot_samples(images, labels, tmp_path / "c.png", seed=2).read_bytes()
    assert a == b and a != c


def test_training_curves(tmp_path):
    plain = _valid_png(plots.plot_training_curves(HISTORY, tmp_path / "curves.png"))
    with_lr = _valid_png(
        plots.plot_training_curves({**HISTORY, "learning_rate": [1e-3, 3e-3, 1e-4]}, tmp_path / "lr.png")
    )
    with Image.open(plain) as p, Image.open(with_lr) as q:
        assert q.width > p.width  # third panel for the learning rate
    with pytest.raises(ValueError, match="history"):
        plots.plot_training_curves({}, tmp_path / "x.png")


def test_confusion_matrix(tmp_path, arrays):
    _, labels, probs = arrays
    cm = metrics_from_probabilities(probs, labels)["confusion_matrix"]
    _valid_png(plots.plot_confusion_matrix(cm, tmp_path / "sub" / "cm.png"))
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix([[1, 2, 3]], tmp_path / "bad.png")


def test_predictions_and_mistakes(tmp_path, arrays):
    images, labels, probs = arrays
    _valid_png(plots.plot_predictions(images, labels, probs, tmp_path / "pred.png"))
    _valid_png(plots.plot_mistakes(images, labels, probs, tmp_path / "mistakes.png"))


def test_mistakes_when_there_are_none(tmp_path, arrays):
    images, labels, _ = arrays
    perfect = np.eye(10, dtype=np.float32)[labels]
    _valid_png(plots.plot_mistakes(images, labels, perfect, tmp_path / "none.png"))


def test_digit_examples(tmp_path, arrays):
    images, labels, _ = arrays
    paths = plots.save_digit_examples(images, labels, tmp_path / "examples")
    assert [p.name for p in paths] == [f"digit_{d}.png" for d in range(10)]
    with Image.open(paths[3]) as im:
        assert im.size == (112, 112) and im.mode == "L"
