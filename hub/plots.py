"""Figures for the model card and the training summary (matplotlib, headless Agg backend, small PNGs).

Every function takes arrays plus an output path, writes one PNG and returns its path. Random choices
use a seeded numpy Generator so that reruns draw the same images.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, safe in CI and in a Space

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

DPI = 100
_RED = "#d62728"
_GREEN = "#2ca02c"


def _as_2d_images(images) -> np.ndarray:
    """(N, 28, 28) view of uint8 (N,28,28) or float (N,28,28,1) images, for imshow."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 28, 28, 1), got {images.shape}")
    return images


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1, format="png")
    plt.close(fig)
    return path


def _digit_grid(n: int, ncols: int, cell: float = 1.05, title_space: float = 0.6):
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * cell, nrows * (cell + 0.25) + title_space), squeeze=False
    )
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes.flat


def _show_digit(ax, image, vmax):
    ax.imshow(image, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])


def _vmax(images) -> float:
    return 255.0 if np.asarray(images).dtype == np.uint8 else 1.0


def plot_samples(images, labels, path, *, n: int = 30, ncols: int = 10, seed: int = 0) -> Path:
    """Grid of random training images titled with their labels."""
    images = _as_2d_images(images)
    labels = np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(images), size=min(n, len(images)), replace=False)
    fig, axes = _digit_grid(len(idx), ncols)
    for ax, i in zip(axes, idx):
        _show_digit(ax, images[i], _vmax(images))
        ax.set_title(f"label {labels[i]}", fontsize=9)
    fig.suptitle("Random training images with their labels", fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curves(history: dict, path) -> Path:
    """Loss and accuracy per epoch, train vs. validation; a third panel for the learning rate if recorded."""
    if not history or "loss" not in history:
        raise ValueError("history has no 'loss' entry: pass keras' History.history dict (or metrics['history'])")
    lr_key = next((k for k in ("learning_rate", "lr") if k in history), None)
    panels = [("loss", "Loss (categorical cross-entropy)"), ("accuracy", "Accuracy")]
    if lr_key:
        panels.append((lr_key, "Learning rate"))
    panels = [(k, t) for k, t in panels if k in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        values = history[key]
        epochs = np.arange(1, len(values) + 1)
        if key == lr_key:
            ax.plot(epochs, values, marker="o", ms=3, color="tab:purple")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        else:
            ax.plot(epochs, values, marker="o", ms=3, label="train")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], marker="s", ms=3, label="validation")
            ax.legend(fontsize=9)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Training curves", fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(cm, path, *, labels=None) -> Path:
    """Confusion matrix annotated with counts; colour is the row-normalised rate (fraction of each true digit)."""
    cm = np.asarray(cm, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    labels = [str(i) for i in range(cm.shape[0])] if labels is None else [str(x) for x in labels]
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.6, 5.6))
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j] == 0:
                continue
            color = "white" if rate[i, j] > 0.5 else (_RED if i != j else "black")
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    errors = int(cm.sum() - np.trace(cm))
    ax.set_title(f"Confusion matrix ({int(cm.sum()):,} test images, {errors:,} errors)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _prediction_grid(images, y_true, probabilities, idx, path, title, ncols) -> Path:
    images = _as_2d_images(images)
    y_true = np.asarray(y_true).ravel()
    probabilities = np.asarray(probabilities)
    pred = probabilities.argmax(axis=1)
    fig, axes = _digit_grid(max(len(idx), 1), ncols, cell=1.15)
    if len(idx) == 0:
        fig.text(0.5, 0.5, "no images to show", ha="center", va="center", fontsize=11)
    for ax, i in zip(axes, idx):
        _show_digit(ax, images[i], _vmax(images))
        wrong = pred[i] != y_true[i]
        ax.set_title(
            f"true {y_true[i]} pred {pred[i]}\n{probabilities[i, pred[i]]:.1%}",
            fontsize=8,
            color=_RED if wrong else "black",
        )
        if wrong:
            for spine in ax.spines.values():
                spine.set_edgecolor(_RED)
                spine.set_linewidth(2.5)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_predictions(images, y_true, probabilities, path, *, n: int = 30, ncols: int = 10, seed: int = 0) -> Path:
    """Predictions on random test images: true / predicted label and confidence; mistakes in red."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y_true), size=min(n, len(y_true)), replace=False)
    n_wrong = int(np.sum(np.asarray(probabilities)[idx].argmax(axis=1) != np.asarray(y_true).ravel()[idx]))
    title = f"Predictions on {len(idx)} random test images ({n_wrong} wrong, in red)"
    return _prediction_grid(images, y_true, probabilities, idx, path, title, ncols)


def plot_mistakes(images, y_true, probabilities, path, *, n: int = 20, ncols: int = 10) -> Path:
    """The most confident wrong predictions on the test set, worst first."""
    y_true = np.asarray(y_true).ravel()
    probabilities = np.asarray(probabilities)
    pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    confidence = probabilities[wrong, pred[wrong]]
    idx = wrong[np.argsort(-confidence, kind="stable")][:n]
    if len(wrong) == 0:
        title = f"No mistakes on {len(y_true):,} test images"
    else:
        title = f"Most confident mistakes: {len(idx)} worst of {len(wrong):,} errors on {len(y_true):,} test images"
    return _prediction_grid(images, y_true, probabilities, idx, path, title, ncols)


def save_digit_examples(images, labels, out_dir, *, scale: int = 4, seed: int = 0) -> list[Path]:
    """One PNG per digit 0-9 (`digit_<d>.png`, enlarged `scale` times) for the card's widget and for users to try.

    Digits absent from `labels` are skipped. Images are white on black, as the model expects.
    """
    images = _as_2d_images(images)
    labels = np.asarray(labels).ravel()
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for digit in range(10):
        candidates = np.flatnonzero(labels == digit)
        if len(candidates) == 0:
            continue
        img = Image.fromarray(images[rng.choice(candidates)], mode="L")
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        path = out_dir / f"digit_{digit}.png"
        img.save(path, optimize=True)
        paths.append(path)
    return paths
