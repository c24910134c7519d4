"""Reading a whole number: find each digit on the image, classify them together, read them left to right.

How the digits are found (measured against each other on synthetic numbers from MNIST test digits; figures in
benchmarks/reading.py): the ink is located exactly as `hub.preprocess.to_mnist` does (`preprocess.InkMap`, one
implementation), on a coarse copy about COARSE_SIDE px per digit height; its connected strokes are grouped into
digits (strokes that share most of their columns are one digit: the separate bar of a 5, a 4's two strokes, a
broken line), left to right. A group much wider than tall is two or more touching digits: the cut is tried at the
low-ink columns, and the split the model finds most digit-like wins (against not cutting at all). Each digit is
then cut from the full-resolution image and normalised exactly as a single digit is (`InkMap.to_mnist`).

One digit alone reads through the very same steps as `to_mnist` (the same mask, hence the same 28x28 crop and the
same answer as /predict).

Status: "no_digit" when nothing is drawn, "not_a_digit" when the model's calibrated P(not_a_digit) for any symbol
reaches the model's decline threshold (a model without that class never declines), else "ok".
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from hub.images import MAX_ASPECT
from hub.preprocess import COARSE_SIDE, InkMap, NoDigitError, load_image

__all__ = ["DigitReading", "NumberReading", "read_number"]

SPECK = 0.02  # strokes lighter than this share of the heaviest are specks (as to_mnist drops them) ...
EDGE_SPECK = 0.2  # ... and strokes touching the image edge (photo corners, shadows) lighter than this share
SAME_DIGIT_OVERLAP = 0.5  # two strokes sharing this share of the narrower one's columns belong to one digit
FRAGMENT = 0.5  # a group less tall than this share of the tallest is part of a neighbouring digit
WIDE = 1.2  # a stroke wider than this many times its height may be touching digits (0.8, 1.0: wide single digits got cut) ...
SINGLE_ASPECT = (1.2, 0.1)  # ... the more likely, the wider: a logistic (middle, scale) in width / height, from
#  MNIST (w/h: median 0.7, 90th percentile 1.0, 99th 1.33); the uncut group's score is multiplied by it
CUT_MARGIN = 0.25  # cuts leave each part at least this many group heights wide
CUT_CANDIDATES = 4  # low-ink columns tried per cut
ROUND = 4  # decimals in to_dict()

STATUS_OK, STATUS_NO_DIGIT, STATUS_NOT_A_DIGIT = "ok", "no_digit", "not_a_digit"


@dataclass(frozen=True)
class DigitReading:
    """One symbol of the number: its digit, calibrated confidence, box (x0, y0, x1, y1) in the input image's pixels
    (x1, y1 exclusive), the 3 most probable digits and the calibrated P(not a digit)."""

    digit: str
    confidence: float
    box: tuple[int, int, int, int]
    top3: list[tuple[str, float]]
    not_a_digit: float = 0.0

    def to_dict(self) -> dict:
        return {"digit": self.digit, "confidence": round(self.confidence, ROUND), "box": list(self.box),
                "top3": [{"digit": d, "confidence": round(c, ROUND)} for d, c in self.top3],
                "not_a_digit": round(self.not_a_digit, ROUND)}


@dataclass(frozen=True)
class NumberReading:
    """What `read_number` returns; `to_dict()` is the /read_number reply.

    `number` is the digits left to right, "" unless `status` is "ok". `confidence` is, for "ok", the product of
    the digits' confidences (the probability that all are right); for "not_a_digit", the highest P(not a digit)
    among the symbols; 0 for "no_digit". `crops` (n, 28, 28) float32 are what the model saw, one per symbol.
    """

    number: str
    status: str
    confidence: float
    digits: list[DigitReading]
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.float32), repr=False)

    def to_dict(self) -> dict:
        return {"number": self.number, "status": self.status, "confidence": round(self.confidence, ROUND),
                "digits": [d.to_dict() for d in self.digits]}


def read_number(clf, image) -> NumberReading:
    """Read the digits on `image` (anything `load_image` accepts) left to right with classifier `clf`.

    Raises ImageInputError for unusable input; a blank image is status "no_digit", not an error.
    """
    image, scale = _load(image)
    try:
        ink = InkMap(image, coarse_side=_coarse_side(image.size))
    except NoDigitError:
        return _blank()
    groups = _groups(ink)
    if not groups:
        return _blank()
    masks = [m for group, cut in groups for m in (_split(clf, ink, group) if cut else [group])]
    if len(masks) == 1:  # one digit: exactly to_mnist's map and mask, so the same crop and answer as /predict
        if not ink.is_default_scale:
            ink = InkMap(image)
        try:
            masks = [ink.digit_mask()]
        except NoDigitError:
            return _blank()
    crops = np.stack([ink.to_mnist(m) for m in masks])
    probabilities, not_a_digit = clf.probabilities(crops[..., np.newaxis])
    return _reading(clf, probabilities, not_a_digit, [_scaled(ink.box(m), scale) for m in masks], crops)


def _reading(clf, probabilities, not_a_digit, boxes, crops) -> NumberReading:
    labels = clf.digit_labels
    digits = []
    for p, q, box in zip(probabilities, not_a_digit, boxes):
        order = np.argsort(-p, kind="stable")[:3]
        digits.append(DigitReading(digit=labels[order[0]], confidence=float(p[order[0]]), box=box,
                                   top3=[(labels[i], float(p[i])) for i in order], not_a_digit=float(q)))
    if clf.declines(not_a_digit).any():
        return NumberReading("", STATUS_NOT_A_DIGIT, float(np.max(not_a_digit)), digits, crops)
    return NumberReading("".join(d.digit for d in digits), STATUS_OK,
                         float(np.prod([d.confidence for d in digits])), digits, crops)


def _blank() -> NumberReading:
    return NumberReading("", STATUS_NO_DIGIT, 0.0, [])


def _load(source):
    """(decoded image, input pixels per decoded pixel): big JPEGs decode reduced; boxes are given in the input's
    pixels, so the full size is read from the header."""
    if hasattr(source, "read") and not isinstance(source, Image.Image):
        source = source.read()
    image = load_image(source, max_side=4 * COARSE_SIDE)
    full = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        full = _header_size(io.BytesIO(bytes(source)))
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            full = _header_size(handle)
    if full is None or full == image.size:
        return image, 1.0
    return image, full[0] / image.size[0]


def _header_size(stream):
    try:
        with Image.open(stream) as header:
            width, height = header.size
            if header.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF rotation: load_image turns the picture
                width, height = height, width
            return width, height
    except Exception:  # load_image already accepted it; a size we cannot read means no rescaling
        return None


def _scaled(box, scale):
    if scale == 1.0:
        return box
    return tuple(int(round(v * scale)) for v in box)


def _coarse_side(size) -> int:
    """About COARSE_SIDE coarse pixels along the image's short side (a number is written along the long one)."""
    width, height = size
    aspect = min(max(width, height) / max(min(width, height), 1), MAX_ASPECT)
    return round(COARSE_SIDE * max(aspect, 1.0))


# ---------------------------------------------------------------------- grouping strokes into digits


def _groups(ink: InkMap) -> list[tuple[np.ndarray, bool]]:
    """(coarse mask, may be touching digits) of each digit, left to right: strokes that are not specks, merged
    when they share columns or when one is a short fragment beside a digit."""
    mass, slices, edge = ink.mass[1:], ink.slices, ink.edge
    heaviest = float(mass.max()) if mass.size else 0.0
    if heaviest <= 0:
        return []
    strokes = [i for i, box in enumerate(slices)
               if box is not None and mass[i] > 0 and mass[i] >= (EDGE_SPECK if edge[i] else SPECK) * heaviest]
    strokes.sort(key=lambda i: slices[i][1].start)
    groups: list[list[int]] = []
    spans: list[list[int]] = []  # column span [start, stop) of each group
    for i in strokes:
        start, stop = slices[i][1].start, slices[i][1].stop
        for group, span in zip(groups, spans):
            shared = min(stop, span[1]) - max(start, span[0])
            if shared >= SAME_DIGIT_OVERLAP * min(stop - start, span[1] - span[0]):
                group.append(i)
                span[0], span[1] = min(span[0], start), max(span[1], stop)
                break
        else:
            groups.append([i])
            spans.append([start, stop])
    # A stroke much shorter than the number's digits is part of a neighbour (a 5's bar drawn off to the side, a
    # broken stroke of a photo): it joins the nearest group when that one is close.
    heights = [max(slices[i][0].stop for i in g) - min(slices[i][0].start for i in g) for g in groups]
    tall = max(heights)
    for k in sorted(range(len(groups)), key=lambda k: heights[k]):
        if heights[k] >= FRAGMENT * tall or len(groups) == 1 or not groups[k]:
            continue
        gaps = [max(spans[j][0] - spans[k][1], spans[k][0] - spans[j][1], 0) if j != k and groups[j] else np.inf
                for j in range(len(groups))]
        j = int(np.argmin(gaps))
        if gaps[j] <= FRAGMENT * tall:
            groups[j] += groups[k]
            spans[j] = [min(spans[j][0], spans[k][0]), max(spans[j][1], spans[k][1])]
            groups[k] = []
    kept = [k for k in range(len(groups)) if groups[k]]
    kept.sort(key=lambda k: spans[k][0])
    out = []
    for k in kept:
        mask = ink.mask([i + 1 for i in groups[k]])
        if ink.is_stroke(mask):  # touching digits are one stroke as tall as a digit: only those may be cut
            out.append((mask, len(groups[k]) == 1 and heights[k] >= FRAGMENT * tall))
    return out


def _split(clf, ink: InkMap, mask: np.ndarray) -> list[np.ndarray]:
    """A group of touching digits -> one mask per digit (left to right); other groups unchanged.

    Candidate cuts are the columns with the least ink (local minima of the column profile, away from the ends);
    every candidate split, and the uncut group, is classified in one batch, and the most digit-like wins: the
    highest product over its parts of max digit probability x (1 - P(not a digit)). Parts still too wide are cut
    again (three or more touching digits).
    """
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if width <= WIDE * height:
        return [mask]
    profile = (ink.ink * mask).sum(axis=0)[cols[0]:cols[-1] + 1]
    margin = max(1, int(CUT_MARGIN * height))
    inner = np.arange(margin, width - margin)
    if inner.size == 0:
        return [mask]
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    minima = [c for c in inner if smooth[c] <= smooth[c - 1] and smooth[c] <= smooth[min(c + 1, width - 1)]]
    candidates = sorted(minima or list(inner), key=lambda c: smooth[c])[:CUT_CANDIDATES]
    column = np.arange(mask.shape[1])[np.newaxis, :]
    options = [[mask]]
    for c in candidates:
        cut = cols[0] + c
        left, right = mask & (column < cut), mask & (column >= cut)
        if ink.is_stroke(left) and ink.is_stroke(right):
            options.append([left, right])
    if len(options) == 1:
        return [mask]
    parts = [m for option in options for m in option]
    crops = np.stack([ink.to_mnist(m) for m in parts])[..., np.newaxis]
    probabilities, not_a_digit = clf.probabilities(crops)
    score = probabilities.max(axis=1) * (1.0 - not_a_digit)
    score[0] *= 1.0 / (1.0 + np.exp((width / height - SINGLE_ASPECT[0]) / SINGLE_ASPECT[1]))
    scores, k = [], 0
    for option in options:
        scores.append(float(np.prod(score[k:k + len(option)])))
        k += len(option)
    best = options[int(np.argmax(scores))]
    if len(best) == 1:
        return best
    return [m for part in best for m in _split(clf, ink, part)]
