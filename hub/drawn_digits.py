"""MNIST training digits redrawn the way people draw and photograph them, then preprocessed like their drawings.

Why: the "not_a_digit" class is trained on drawings put through `hub.preprocess.to_mnist` (hub.negatives). If every
digit the model saw were a raw MNIST scan, "drawn with a uniform pen and preprocessed" would itself mean "not a
digit": a first model trained that way declined 25-95% of drawn digits (benchmarks/reading.py) while declining
0.04% of MNIST test digits. So a share of the training digits (and of the validation digits, for early stopping
and the temperature) goes through the same path as a user's drawing: redrawn with a pen from thin to felt-marker
bold (hub.strokes), or scanned a few pixels tall and blown up blurry, or simply enlarged, then `to_mnist`.

Only MNIST *training* images are redrawn; the benchmarks draw test digits, on their own canvases and photos.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from hub.preprocess import NoDigitError, to_mnist
from hub.strokes import MNIST_STROKE, brush_mask

DRAWN_SHARE = 0.3  # of the training and validation digits
KINDS = {"pen": 0.6, "low_resolution": 0.25, "enlarged": 0.15}


def draw_like_users(digits: np.ndarray, seed: int) -> np.ndarray:
    """uint8 (N, 28, 28) MNIST digits -> uint8 (N, 28, 28): each redrawn one way (KINDS) and preprocessed."""
    rng = np.random.default_rng(seed)
    names, weights = list(KINDS), np.array(list(KINDS.values()))
    out = np.empty_like(digits)
    for i, digit in enumerate(digits):
        out[i] = digit  # kept if no drawing of it survives preprocessing (a digit of a few pixels)
        for _ in range(3):
            kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
            try:
                out[i] = np.round(to_mnist(RENDER[kind](digit, rng)) * 255).astype(np.uint8)
                break
            except NoDigitError:
                continue
    return out


def _pen(digit, rng) -> Image.Image:
    """Black pen on white, from a fine pen (0.4x MNIST's stroke) to a felt marker (3x), sometimes a little blurred."""
    height = int(rng.integers(48, 200))
    width = max(1.0, MNIST_STROKE * height * rng.uniform(0.4, 3.0))
    mask = brush_mask(digit, height, width)
    if rng.random() < 0.3:
        mask = ndimage.gaussian_filter(mask, float(rng.uniform(0.5, 1.5)))
    return _on_paper(mask, rng)


def _low_resolution(digit, rng) -> Image.Image:
    """The digit scanned 7-18 px tall, upscaled 3-8x bilinear or bicubic (a thumbnail, a far-away photo)."""
    rows, cols = np.nonzero(digit.any(axis=1))[0], np.nonzero(digit.any(axis=0))[0]
    crop = digit[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    height = int(rng.integers(7, 19))
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    small = np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BOX), np.float32) / 255
    thumbnail = _on_paper(small, rng, margin=int(rng.integers(1, 6)))
    factor = int(rng.integers(3, 9))
    method = Image.Resampling.BILINEAR if rng.random() < 0.5 else Image.Resampling.BICUBIC
    return thumbnail.resize((thumbnail.width * factor, thumbnail.height * factor), method)


def _enlarged(digit, rng) -> Image.Image:
    """The MNIST digit itself, enlarged 2-7x (bicubic), dark on light."""
    side = int(28 * rng.uniform(2, 7))
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    return _on_paper(big, rng, margin=0)


def _on_paper(mask, rng, margin: int | None = None) -> Image.Image:
    """A [0, 1] ink mask as a grey image: light paper, dark ink, a margin around it."""
    margin = int(rng.integers(4, 40)) if margin is None else margin
    mask = np.pad(np.clip(mask, 0, 1), margin)
    paper, ink = rng.uniform(200, 255), rng.uniform(0, 70)
    return Image.fromarray(np.round(paper - (paper - ink) * mask).astype(np.uint8))


RENDER = {"pen": _pen, "low_resolution": _low_resolution, "enlarged": _enlarged}
