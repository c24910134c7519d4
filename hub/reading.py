"""Reading a whole number: find each digit on the image, classify them together, read them left to right.

How the digits are found: the ink is located exactly as `hub.preprocess.to_mnist` does (`preprocess.InkMap`, one
implementation). Ink clearly apart (CLEAR_GAP digit heights, ink to ink) is separate symbols; ink stacked above
other ink is one digit broken apart; small marks join a close neighbour or are dropped; an edge line spanning the
image (a page edge, a shadow) is dropped. Each cluster is first read as one digit; only a cluster that does not read
as a confident digit is also read as its column groups and as cuts at low-ink columns, and the most digit-like
reading wins (product of max digit probability x (1 - P(not a digit)), times a prior on the cluster's width /
height; a cut goes straight down a low-ink column or along the least-ink path near it): a half digit often
reads as a confident digit, so a confident whole is never cut; a reading in parts
needs every part to be a confident digit, and not all of them 1s (the straight strokes of an A, a V or a check
mark). The converse: two neighbouring clusters whose columns overlap, one of them no confident digit, are one digit
drawn in pieces (a thin pen's broken 0) when together they read as a confident digit.

One cluster on the image reads through the very same steps as `to_mnist` (the same map and mask, hence the same
28x28 crop and the same answer as /predict), at about the same cost; a finer map is built only for numbers.

Status: "no_digit" when nothing is drawn, "not_a_digit" when the model's calibrated P(not_a_digit) for any symbol
reaches the model's decline threshold (a model without that class never declines), a symbol's features are unlike
any digit's (`hub.feature_distance`: two touching digits taken for one, a doodle the not_a_digit class never saw),
or a symbol has separate marks inside a closed loop (a face: no digit has those, and the model read drawn faces
as a confident "0"), else "ok". While the digits are being found, a symbol unlike any digit counts as no digit
(P(not a digit) 1), so a cluster that reads so whole is also read in parts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from hub.images import MAX_ASPECT
from hub.preprocess import COARSE_SIDE, InkMap, NoDigitError, coarse_factor, load_image

__all__ = ["DigitReading", "NumberReading", "read_number"]

SPECK = 0.02  # strokes lighter than this share of the heaviest are specks (as to_mnist drops them) ...
EDGE_SPECK = 0.2  # ... and strokes touching the image edge (photo corners, shadows) lighter than this share
SAME_DIGIT_OVERLAP = 0.5  # two strokes sharing this share of the narrower one's columns belong to one digit
FRAGMENT = 0.5  # a group less tall than this share of the tallest is part of a neighbouring digit
CLEAR_GAP = 0.15  # ink this many digit heights apart (or more) is two symbols
EDGE_SPAN = 0.9  # ink on the image edge spanning this share of the image beside a digit is a page edge or shadow
WIDE = 0.85  # a cluster wider than this many times its height may be touching digits: cuts are tried ...
SURE = 0.9  # ... unless it reads as one digit with this score (confidence x (1 - P(not a digit))); parts need it too
THREE = 2.0  # ... and a part of a cut still wider than WIDE * THREE is cut again
SINGLE_ASPECT = (1.25, 0.15)  # prior that a cluster is one digit: a logistic (middle, scale) in width / height ...
ALONE_MIDDLE = 0.9  # ... whose middle is here for a cluster alone on the image (no spaced digits beside it)
CUT_MARGIN = 0.25  # cuts leave each part at least this many group heights wide
CUT_CANDIDATES = 4  # low-ink columns tried per cut, each straight down and along the least-ink path near it ...
PATH_WINDOW = 0.3  # ... which stays within this many group heights of the column ...
PATH_BEND = 0.02  # ... at this cost per column away from it (a full-ink pixel costs 1) ...
PATH_SHARE = 0.15  # ... and leaves each part at least this share of the ink
EDGE_SCORE = 0.25  # beside a number, ink on the image edge the model declines or reads this poorly is no digit of it
EDGE_BAND = 0.3  # ... and such ink is cut to the rows of its nearest digit, +- this share of its height
INSIDE = 0.9  # a stroke with this share of its ink in another stroke's closed loop is a mark inside that loop
PAPER_BORDER = 0.1  # ... unless that stroke lines this share of the image's border: paper taken for ink
CLOSER_LOOK = 48  # a symbol with a loop, less than this many coarse pixels tall and wide, is looked at again ...
CLOSER_SIDE = COARSE_SIDE  # ... on a map of its own as fine as a lone symbol filling the image gets ...
CLOSER_MARGIN = 0.15  # ... cut from the image with this share of its size around it
ROUND = 4  # decimals in to_dict()

STATUS_OK, STATUS_NO_DIGIT, STATUS_NOT_A_DIGIT = "ok", "no_digit", "not_a_digit"
# Why a reading is "not_a_digit": the model's P(not a digit) reached its threshold, a symbol's features are unlike any
# digit's, or a symbol has marks inside a loop
REASON_MODEL, REASON_UNLIKE, REASON_MARKS_INSIDE = "model", "unlike_any_digit", "marks_inside_a_loop"


@dataclass(frozen=True)
class DigitReading:
    """One symbol of the number: its digit, calibrated confidence, box (x0, y0, x1, y1) in the input image's pixels
    (x1, y1 exclusive), the 3 most probable digits, the model's calibrated P(not a digit) (1 for a symbol with marks
    inside a closed loop) and the feature distance to the nearest digit class (None for a model folder without
    `feature_distance.npz`; at or beyond the folder's threshold, the symbol is unlike any digit)."""

    digit: str
    confidence: float
    box: tuple[int, int, int, int]
    top3: list[tuple[str, float]]
    not_a_digit: float = 0.0
    feature_distance: float | None = None

    def to_dict(self) -> dict:
        reply = {"digit": self.digit, "confidence": round(self.confidence, ROUND), "box": list(self.box),
                 "top3": [{"digit": d, "confidence": round(c, ROUND)} for d, c in self.top3],
                 "not_a_digit": round(self.not_a_digit, ROUND)}
        if self.feature_distance is not None:
            reply["feature_distance"] = round(self.feature_distance, ROUND)
        return reply


@dataclass(frozen=True)
class NumberReading:
    """What `read_number` returns; `to_dict()` is the /read_number reply.

    `number` is the digits left to right, "" unless `status` is "ok". `confidence` is, for "ok", the product of
    the digits' confidences (the probability that all are right); for "not_a_digit", the highest P(not a digit)
    among the symbols, where a symbol declined by a rule (unlike any digit, marks inside a loop) counts as 1; 0 for
    "no_digit". `crops` (n, 28, 28) float32 are what the model saw, one per symbol.
    `reason`, for "not_a_digit" only (and then in `to_dict()`): "model" (its P(not a digit) reached the threshold),
    "unlike_any_digit" (a symbol's feature distance reached its threshold) or "marks_inside_a_loop" (a symbol has separate marks inside a closed loop, as a face has; its P(not a digit) is
    then 1).
    """

    number: str
    status: str
    confidence: float
    digits: list[DigitReading]
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.float32), repr=False)
    reason: str = ""

    def to_dict(self) -> dict:
        reply = {"number": self.number, "status": self.status, "confidence": round(self.confidence, ROUND),
                 "digits": [d.to_dict() for d in self.digits]}
        if self.reason:
            reply["reason"] = self.reason
        return reply


def read_number(clf, image) -> NumberReading:
    """Read the digits on `image` (anything `load_image` accepts) left to right with classifier `clf`.

    Raises ImageInputError for unusable input; a blank image is status "no_digit", not an error.
    """
    image, scale = _load(image)
    try:
        default = ink = InkMap(image)  # to_mnist's map: one digit needs no other
    except NoDigitError:
        return _blank()
    clusters = _clusters(ink)
    if len(clusters) > 1 and coarse_factor(image.size, _coarse_side(image.size)) != ink.factor:
        ink = InkMap(image, coarse_side=_coarse_side(image.size))  # a number on a wide image: finer, per digit
        clusters = _clusters(ink)
    if not clusters:
        return _blank()
    whole = None
    if len(clusters) == 1:  # one symbol unless the model says otherwise: to_mnist's very map, mask and crop
        try:
            whole = (default, default.digit_mask())
        except NoDigitError:
            return _blank()
    edge = [len(clusters) > 1 and _touches_edge(ink, cluster) for cluster in clusters]
    if any(edge) and not all(edge):  # a digit glued to a photo's shadow or dark corner: keep the number's rows
        clusters = [_within_rows(ink, cluster, clusters, edge) if edge[k] else cluster
                    for k, cluster in enumerate(clusters)]
        kept = [k for k, cluster in enumerate(clusters) if cluster is not None]
        clusters, edge = [clusters[k] for k in kept], [edge[k] for k in kept]
    # First each cluster as one digit (one model call; all a single digit needs), then, for the clusters that do
    # not read as a confident digit, the other ways to read them (a second call).
    wholes = [whole if whole is not None else (ink, cluster) for cluster in clusters]
    crops, probabilities, not_a_digit, score = _classify(clf, wholes)
    joined = _joined(clf, ink, clusters, score, default)
    if joined is not None:  # a digit drawn in pieces, read whole (one call more, only where pieces overlap)
        clusters, wholes = joined
        ink = wholes[0][0] if len(clusters) == 1 else ink  # all the ink in one: to_mnist's map
        edge = [len(clusters) > 1 and _touches_edge(ink, cluster) for cluster in clusters]
        crops, probabilities, not_a_digit, score = _classify(clf, wholes)
    # A symbol with marks inside a closed loop is no digit, whatever the model says; it is one symbol, not cut.
    inside = [_marks_inside_a_loop(m_ink, m) or _marks_inside_a_small_loop(image, m_ink, m) for m_ink, m in wholes]
    not_a_digit = np.where(inside, 1.0, not_a_digit).astype(np.float32)
    symbols = []  # (map, mask, crop, digit probabilities, P(not a digit)) left to right
    unsure = [k for k in range(len(clusters)) if score[k] < SURE and not inside[k]]  # a confident digit is not cut
    options = {k: _options(ink, clusters[k])[1:] for k in unsure}
    parts = [(ink, m) for k in unsure for option in options[k] for m in option]
    if parts:
        crops2, probabilities2, not_a_digit2, score2 = _classify(clf, parts)
    at, dropped = 0, 0
    for k, cluster in enumerate(clusters):
        best = [(wholes[k], crops[k], probabilities[k], not_a_digit[k])]
        if k in options:
            aspect = _aspect(cluster)
            # One symbol explains the ink whether it is a digit or not: an "A" read whole is a confident
            # non-digit, and must not lose to two confident "1"s cut from its legs.
            alone = len(clusters) == 1
            best_value = max(float(score[k]), float(not_a_digit[k])) * _prior(1, aspect, alone)
            for option in options[k]:
                part_scores = score2[at:at + len(option)]
                value = float(np.prod(part_scores)) * _prior(len(option), aspect, alone)
                if part_scores.min() < SURE or _only_ones(clf, probabilities2[at:at + len(option)]):
                    value = 0.0  # every part a confident digit, and not only 1s (the legs of an A, a V, a check mark)
                if value > best_value:
                    best_value = value
                    best = [(parts[at + i], crops2[at + i], probabilities2[at + i], not_a_digit2[at + i])
                            for i in range(len(option))]
                at += len(option)
        # Ink on the image edge beside the number (a photo's shadow or dark corner) that reads as no digit in any
        # way is not a symbol of the number.
        if edge[k] and not all(edge) and all(_not_digit_like(clf, p, q) for _, _, p, q in best):
            dropped += 1
            continue
        symbols.extend((m_ink, m, c, p, q) for (m_ink, m), c, p, q in best)
    if dropped and len(symbols) == 1:  # one digit after all: read as to_mnist reads it (its very crop, as /predict)
        mask = default.digit_mask()
        c, p, q, _ = _classify(clf, [(default, mask)])
        symbols = [(default, mask, c[0], p[0], q[0])]
    # A part of a cut still as wide as two digits (three or more touching digits) is cut again.
    if len(symbols) > len(clusters) and any(_aspect(m) > WIDE * THREE for _, m, *_ in symbols):
        again = []
        for m_ink, m, c, p, q in symbols:
            again.extend([(m_ink, sub) for sub in _cut(clf, ink, m)] if _aspect(m) > WIDE * THREE else [(m_ink, m)])
        crops3, probabilities3, not_a_digit3, _ = _classify(clf, again)
        symbols = [(m_ink, m, c, p, q) for (m_ink, m), c, p, q in zip(again, crops3, probabilities3, not_a_digit3)]
    boxes = [_scaled(m_ink.box(m), scale) for m_ink, m, *_ in symbols]
    return _reading(clf, np.stack([s[3] for s in symbols]), np.array([s[4] for s in symbols]), boxes,
                    np.stack([s[2] for s in symbols]), marks_inside=any(inside))


def _joined(clf, ink: InkMap, clusters, score, default: InkMap):
    """(clusters, wholes) with neighbours that are one digit drawn in pieces joined, or None if there are none.

    Digits of a number stand side by side; the two arcs of a thin pen's broken 0 do too, but their columns overlap
    and one of them is no confident digit alone. Such a pair is read whole, and kept whole only if the whole is a
    confident digit (score SURE or more): the rule that keeps a confident whole from being cut, applied to a gap.
    Two pieces that are all the ink are read as to_mnist reads the image (its map and crop, the /predict answer)."""
    pairs = [k for k in range(len(clusters) - 1)
             if min(score[k], score[k + 1]) < SURE and _columns_shared(clusters[k], clusters[k + 1]) > 0]
    if not pairs:
        return None
    if len(clusters) == 2:
        try:
            mask = default.digit_mask()
        except NoDigitError:
            return None
        outer = default.box(mask)
        if not all(_within(ink.box(cluster), outer, default.factor) for cluster in clusters):
            return None  # to_mnist's digit leaves one of the two out: they are not one digit in pieces
        unions = [(default, mask)]
    else:
        unions = [(ink, clusters[k] | clusters[k + 1]) for k in pairs]
    _, _, _, union_score = _classify(clf, unions)
    joined, wholes, taken = list(clusters), [(ink, cluster) for cluster in clusters], set()
    for k, union, value in sorted(zip(pairs, unions, union_score), key=lambda t: -t[2]):
        if value >= SURE and not {k, k + 1} & taken:
            joined[k], joined[k + 1] = union[1], None
            wholes[k], wholes[k + 1] = union, None
            taken |= {k, k + 1}
    if not taken:
        return None
    return [m for m in joined if m is not None], [w for w in wholes if w is not None]


def _within(box, outer, slack: int) -> bool:
    """Whether the box (x0, y0, x1, y1) lies inside `outer`, give or take `slack` pixels."""
    return (box[0] >= outer[0] - slack and box[1] >= outer[1] - slack and box[2] <= outer[2] + slack
            and box[3] <= outer[3] + slack)


def _columns_shared(a: np.ndarray, b: np.ndarray) -> int:
    ca, cb = np.nonzero(a.any(axis=0))[0], np.nonzero(b.any(axis=0))[0]
    return int(min(ca[-1], cb[-1]) - max(ca[0], cb[0]) + 1)


def _marks_inside_a_loop(ink: InkMap, mask: np.ndarray) -> bool:
    """Whether one stroke of the symbol lies inside the closed loop of another (a face's eyes and mouth, a target's
    rings). The loops of 0, 6, 8 and 9 are empty, so a model trained on digits and a few kinds of non-digit may
    read a face as a confident "0": this rule declines it. A "loop" lining the image's border does not count: on an
    image mostly covered by ink, the paper takes the part of the ink, and its holes are the digit's own. (A face
    drawn to the canvas edge touches the border at a few points, and counts.)"""
    ids = np.unique(ink.labels[mask])
    ids = ids[ids > 0]
    if len(ids) < 2:
        return False
    window = ndimage.find_objects(mask.astype(np.uint8))[0]
    labels, inked = ink.labels[window], mask[window]
    size = np.bincount(labels[inked], minlength=int(ids.max()) + 1)  # each stroke's pixels in the symbol
    border = np.concatenate([ink.labels[0], ink.labels[-1], ink.labels[1:-1, 0], ink.labels[1:-1, -1]])
    for outer in ids:
        if ink.edge[outer - 1] and np.count_nonzero(border == outer) >= PAPER_BORDER * border.size:
            continue
        own = (labels == outer) & inked
        loop = ndimage.binary_fill_holes(own) & ~own
        if not loop.any():
            continue
        inside = np.bincount(labels[loop & inked], minlength=len(size))
        marks = ids[ids != outer]
        if (inside[marks] >= INSIDE * size[marks]).any():
            return True
    return False


def _marks_inside_a_small_loop(image: Image.Image, ink: InkMap, mask: np.ndarray) -> bool:
    """The same rule on a finer map of a small symbol: a face drawn small on a large canvas spans a few dozen coarse
    pixels, where its eyes merge with its outline into one stroke with no separate mark inside. Only symbols with a
    loop get the closer look, and it reuses the paper level around them (measuring the paper again costs more than
    the rest of the look)."""
    window = ndimage.find_objects(mask.astype(np.uint8))[0]
    rows, cols = window
    if max(rows.stop - rows.start, cols.stop - cols.start) >= CLOSER_LOOK:
        return False
    x0, y0, x1, y1 = ink.box(mask)
    margin = int(CLOSER_MARGIN * max(x1 - x0, y1 - y0)) + 1
    box = (max(0, x0 - margin), max(0, y0 - margin), min(image.width, x1 + margin), min(image.height, y1 + margin))
    if coarse_factor((box[2] - box[0], box[3] - box[1]), CLOSER_SIDE) >= ink.factor:
        return False  # no finer than the map it came from
    if not (ndimage.binary_fill_holes(mask[window]) & ~mask[window]).any():  # no loop: nothing can be inside one
        return False
    paper = (ink.dark_ink, float(np.median(ink.paper[window])), ink.noise)
    try:
        fine = InkMap(image.crop(box), coarse_side=CLOSER_SIDE, paper=paper)
    except NoDigitError:
        return False
    return _marks_inside_a_loop(fine, fine.mask([i + 1 for i in _strokes(fine)]))


def _touches_edge(ink: InkMap, mask: np.ndarray) -> bool:
    ids = np.unique(ink.labels[mask])
    return bool(ink.edge[ids[ids > 0] - 1].any())


def _within_rows(ink: InkMap, cluster: np.ndarray, clusters, edge):
    """An edge-touching cluster cut to the rows of its nearest clear neighbour (+- EDGE_BAND of its height): the
    digits of a number share a band of rows, a shadow or a dark photo corner reaches beyond it. None if no stroke
    is left."""
    def span(mask, axis):
        idx = np.nonzero(mask.any(axis=axis))[0]
        return idx[0], idx[-1]
    c0, c1 = span(cluster, 0)
    centre = (c0 + c1) / 2
    clear = [m for m, e in zip(clusters, edge) if not e]
    nearest = min(clear, key=lambda m: abs(sum(span(m, 0)) / 2 - centre))
    r0, r1 = span(nearest, 1)
    margin = EDGE_BAND * (r1 - r0 + 1)
    rows = np.arange(cluster.shape[0])[:, np.newaxis]
    cut = cluster & (rows >= r0 - margin) & (rows <= r1 + margin)
    return cut if ink.is_stroke(cut) else None


def _only_ones(clf, probabilities: np.ndarray) -> bool:
    """Every part reads as a 1: what cutting a letter or a shape into its straight strokes gives."""
    return all(clf.digit_labels[int(i)] == "1" for i in np.argmax(probabilities, axis=-1))


def _not_digit_like(clf, probabilities: np.ndarray, not_a_digit: float) -> bool:
    """A symbol the model would decline, or reads as no digit at all (score below EDGE_SCORE)."""
    return bool(clf.declines(np.array([not_a_digit])).any()) or _score(probabilities, not_a_digit) < EDGE_SCORE


def _classify(clf, parts):
    """(crops, digit probabilities, P(not a digit), score) of (map, coarse mask) parts, in one model call; the score
    (highest digit probability x (1 - P(not a digit))) says how digit-like each part is."""
    crops = np.stack([m_ink.to_mnist(m) for m_ink, m in parts])
    probabilities, not_a_digit, distance = clf.scores(crops[..., np.newaxis])
    not_a_digit = np.where(clf.unlike_digits(distance), np.float32(1.0), not_a_digit)
    return crops, probabilities, not_a_digit, _score(probabilities, not_a_digit)


def _score(probabilities: np.ndarray, not_a_digit):
    """How digit-like a symbol is: its highest digit probability x (1 - P(not a digit))."""
    return probabilities.max(axis=-1) * (1.0 - not_a_digit)


def _reading(clf, probabilities, not_a_digit, boxes, crops, marks_inside: bool = False) -> NumberReading:
    """`not_a_digit` as `_classify` gives it (1 where a symbol is unlike any digit); the crops are scored again for
    the feature distances and the model's own P(not a digit), which the reply reports (one small model call)."""
    labels = clf.digit_labels
    _, model_says, distance = clf.scores(crops[..., np.newaxis])
    unlike = clf.unlike_digits(distance)
    shown = np.where(unlike, model_says, not_a_digit)  # the model's own P; 1 only for marks inside a loop
    distances = distance if distance is not None else [None] * len(crops)
    digits = []
    for p, q, d, box in zip(probabilities, shown, distances, boxes):
        order = np.argsort(-p, kind="stable")[:3]
        digits.append(DigitReading(digit=labels[order[0]], confidence=float(p[order[0]]), box=box,
                                   top3=[(labels[i], float(p[i])) for i in order], not_a_digit=float(q),
                                   feature_distance=None if d is None else float(d)))
    if marks_inside:
        return NumberReading("", STATUS_NOT_A_DIGIT, 1.0, digits, crops, reason=REASON_MARKS_INSIDE)
    by_model = clf.declines(model_says)
    if np.any(by_model) or np.any(unlike):
        reason = REASON_MODEL if np.any(by_model) else REASON_UNLIKE
        return NumberReading("", STATUS_NOT_A_DIGIT, float(np.max(not_a_digit)), digits, crops, reason=reason)
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


def _aspect(mask) -> float:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return float(cols[-1] - cols[0] + 1) / float(rows[-1] - rows[0] + 1)


def _prior(parts: int, aspect: float, alone: bool = False) -> float:
    """Prior that a cluster of ink of this width / height is one digit (else several), a logistic placed between
    rendered single digits (w/h: median 0.7, 95th percentile 1.2, 99th 1.8) and touching pairs (median 1.26). A
    confident single digit is never cut (a half digit often reads as a confident digit), so the prior only
    weighs unsure clusters. At (1.6, 0.2) it kept most touching pairs whole, and 58.5% of the reading benchmark's
    were declined. Since a cluster unlike any digit also counts as unsure (`hub.feature_distance`), the middle
    for a cluster `alone` on the image moved from 1.25 to 0.9 (ALONE_MIDDLE): on a set of its own (seed 1, 800
    touching pairs), touching pairs read right went 28.4% -> 45.1% (wrong 19.5% -> 19.1%), for 1 of 1,800 single
    digits read wrong instead of right and 4 of 800 non-digits no longer declined. Lower middles gave no more (no
    cluster narrower than WIDE is cut), and cutting confident wide clusters too cost single digits. Beside digits
    written apart, a cluster is more likely one wide digit than two touching ones: there the middle stays at
    1.25 (with 0.9 everywhere, the reading benchmark found 0.6 points fewer of its 2-digit numbers, declines
    aside, and on the seed-1 set one 6-digit number read wrong)."""
    middle = ALONE_MIDDLE if alone else SINGLE_ASPECT[0]
    one = 1.0 / (1.0 + np.exp((aspect - middle) / SINGLE_ASPECT[1]))
    return float(one if parts == 1 else 1.0 - one)


def _strokes(ink: InkMap) -> list[int]:
    mass, slices, edge = ink.mass[1:], ink.slices, ink.edge
    heaviest = float(mass.max()) if mass.size else 0.0
    if heaviest <= 0:
        return []
    return [i for i, box in enumerate(slices)
            if box is not None and mass[i] > 0 and mass[i] >= (EDGE_SPECK if edge[i] else SPECK) * heaviest]


def _clusters(ink: InkMap) -> list[np.ndarray]:
    """Coarse masks of the ink that is clearly apart, left to right: strokes closer than CLEAR_GAP digit heights
    (ink to ink, so a slanted or rotated number keeps its gaps) are one cluster (one digit, or touching/crowded
    digits the model separates); a cluster much shorter than the tallest joins the nearest one when close (a 5's
    bar drawn off to the side), else it is a speck or a mark, not a digit."""
    strokes = _strokes(ink)
    if not strokes:
        return []
    slices = ink.slices
    tall = max(slices[i][0].stop - slices[i][0].start for i in strokes)
    limit = CLEAR_GAP * tall
    points = {i: np.argwhere(ink.labels[slices[i]] == i + 1) + [slices[i][0].start, slices[i][1].start]
              for i in strokes}
    parent = {i: i for i in strokes}

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    def distance(a, b):
        return float(np.sqrt(((points[a][:, None, :] - points[b][None, :, :]) ** 2).sum(axis=2).min()))

    def box_gap(a, b):
        (ra, ca), (rb, cb) = slices[a], slices[b]
        dr = max(ra.start - rb.stop, rb.start - ra.stop, 0)
        dc = max(ca.start - cb.stop, cb.start - ca.stop, 0)
        return float(np.hypot(dr, dc))

    for n, a in enumerate(strokes):
        for b in strokes[n + 1:]:
            if root(a) != root(b) and box_gap(a, b) < limit and distance(a, b) < limit:
                parent[root(a)] = root(b)
    members = {}
    for i in strokes:
        members.setdefault(root(i), []).append(i)
    groups = list(members.values())
    spans = [(min(slices[i][1].start for i in g), max(slices[i][1].stop for i in g)) for g in groups]
    row_spans = [(min(slices[i][0].start for i in g), max(slices[i][0].stop for i in g)) for g in groups]
    # Ink above or below other ink is one digit broken apart: the digits of a number stand side by side. That is
    # ink sharing most of the narrower one's columns, or ink wholly above other ink and beside its columns (a thin
    # pen's slanted 1 broken in the middle), less than half the taller one's height above it.
    for k in range(len(groups)):
        for j in range(k):
            if not groups[j] or not groups[k]:
                continue
            shared = min(spans[k][1], spans[j][1]) - max(spans[k][0], spans[j][0])
            gap_rows = max(row_spans[k][0], row_spans[j][0]) - min(row_spans[k][1], row_spans[j][1])
            taller = max(row_spans[k][1] - row_spans[k][0], row_spans[j][1] - row_spans[j][0])
            if shared >= SAME_DIGIT_OVERLAP * min(spans[k][1] - spans[k][0], spans[j][1] - spans[j][0]) or \
                    (0 <= gap_rows <= FRAGMENT * taller and -shared <= limit):
                groups[j] += groups[k]
                spans[j] = (min(spans[j][0], spans[k][0]), max(spans[j][1], spans[k][1]))
                row_spans[j] = (min(row_spans[j][0], row_spans[k][0]), max(row_spans[j][1], row_spans[k][1]))
                groups[k] = []
                break
    # A page edge, a table edge or a shadow: ink on the image edge spanning the whole image, beside a digit.
    shape = ink.labels.shape
    clear = [g for g in groups if g and not any(ink.edge[i] for i in g)]
    if clear:
        for k, g in enumerate(groups):
            if g and any(ink.edge[i] for i in g):
                rows = max(slices[i][0].stop for i in g) - min(slices[i][0].start for i in g)
                cols = spans[k][1] - spans[k][0]
                if rows >= EDGE_SPAN * shape[0] or cols >= EDGE_SPAN * shape[1]:
                    groups[k] = []
    groups_spans = [(g, sp) for g, sp in zip(groups, spans) if g]
    groups, spans = [g for g, _ in groups_spans], [sp for _, sp in groups_spans]
    heights = [max(slices[i][0].stop for i in g) - min(slices[i][0].start for i in g) for g in groups]
    # The digit height is measured on ink clear of the image edge: a photo's shadow or vignette corner glued to a
    # digit makes a tall group, and would turn the real digits into "fragments" joined into it (a whole number
    # read as one symbol).
    clear_heights = [h for g, h in zip(groups, heights) if not any(ink.edge[i] for i in g)]
    tallest = max(clear_heights or heights)
    for k in sorted(range(len(groups)), key=lambda k: heights[k]):
        if heights[k] >= FRAGMENT * tallest or not groups[k]:
            continue
        gaps = [min(distance(a, b) for a in groups[k] for b in groups[j]) if j != k and groups[j] else np.inf
                for j in range(len(groups))]
        j = int(np.argmin(gaps))
        if gaps[j] <= FRAGMENT * tallest:
            groups[j] += groups[k]
            spans[j] = (min(spans[j][0], spans[k][0]), max(spans[j][1], spans[k][1]))
        groups[k] = []  # merged, or a speck far from any digit
    kept = sorted((k for k in range(len(groups)) if groups[k]), key=lambda k: spans[k][0])
    masks = [ink.mask([i + 1 for i in groups[k]]) for k in kept]
    return [m for m in masks if ink.is_stroke(m)]


def _options(ink: InkMap, cluster: np.ndarray) -> list[list[np.ndarray]]:
    """Ways to read one cluster: as one digit (first), as its column groups (strokes that share few columns:
    crowded digits), and cut at low-ink columns when it is wide (touching digits)."""
    options = [[cluster]]
    groups = _column_groups(ink, cluster)
    if len(groups) > 1:
        options.append(groups)
    if _aspect(cluster) > WIDE:
        options.extend(_cuts(ink, cluster))
    return options


def _column_groups(ink: InkMap, cluster: np.ndarray) -> list[np.ndarray]:
    ids = [i for i in np.unique(ink.labels[cluster]) if i > 0]
    slices = ink.slices
    ids.sort(key=lambda i: slices[i - 1][1].start)
    groups, spans = [], []
    for i in ids:
        start, stop = slices[i - 1][1].start, slices[i - 1][1].stop
        for group, span in zip(groups, spans):
            shared = min(stop, span[1]) - max(start, span[0])
            if shared >= SAME_DIGIT_OVERLAP * min(stop - start, span[1] - span[0]):
                group.append(i)
                span[0], span[1] = min(span[0], start), max(span[1], stop)
                break
        else:
            groups.append([i])
            spans.append([start, stop])
    if len(groups) == 1:
        return []
    heights = [max(slices[i - 1][0].stop for i in g) - min(slices[i - 1][0].start for i in g) for g in groups]
    if min(heights) < FRAGMENT * max(heights):  # a bar or a fragment is no digit of its own
        return []
    masks = [ink.mask(g) & cluster for g in groups]
    return masks if all(ink.is_stroke(m) for m in masks) else []


def _cuts(ink: InkMap, mask: np.ndarray) -> list[list[np.ndarray]]:
    """Two-part splits of `mask` near the columns with the least ink (local minima of the column profile): straight
    down each column, and along the least-ink path from top to bottom near it (`_path`), which follows where two
    touching digits meet when one leans into the other's columns."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    weights = ink.ink * mask
    profile = weights.sum(axis=0)[cols[0]:cols[-1] + 1]
    margin = max(1, int(CUT_MARGIN * height))
    inner = np.arange(margin, width - margin)
    if inner.size == 0:
        return []
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    minima = [c for c in inner if smooth[c] <= smooth[c - 1] and smooth[c] <= smooth[min(c + 1, width - 1)]]
    candidates = sorted(minima or list(inner), key=lambda c: smooth[c])[:CUT_CANDIDATES]
    column = np.arange(mask.shape[1])[np.newaxis, :]
    band = weights[rows[0]:rows[-1] + 1] / max(float(weights.max()), 1e-9)
    total = float(weights.sum())
    straight, curved = [], []
    for c in candidates:
        cut = cols[0] + c
        left, right = mask & (column < cut), mask & (column >= cut)
        if ink.is_stroke(left) and ink.is_stroke(right):
            straight.append([left, right])
        path = _path(band, cut, max(1, int(PATH_WINDOW * height)))
        if np.all(path == cut):
            continue  # the straight cut
        boundary = np.full(mask.shape[0], cut)
        boundary[rows[0]:rows[-1] + 1] = path
        left = mask & (column < boundary[:, np.newaxis])
        right = mask & ~left
        share = float((weights * left).sum()) / max(total, 1e-9)
        if PATH_SHARE <= share <= 1.0 - PATH_SHARE and ink.is_stroke(left) and ink.is_stroke(right):
            curved.append([left, right])
    return straight + curved


def _path(weights: np.ndarray, start: int, window: int) -> np.ndarray:
    """The columns, one per row, of the least-ink 8-connected path from the top row of `weights` to its bottom,
    within `start` +- `window` (dynamic programming; PATH_BEND per column away from `start` keeps it there where
    the paper is blank)."""
    h, w = weights.shape
    lo, hi = max(0, start - window), min(w, start + window + 1)
    cost = weights[:, lo:hi] + PATH_BEND * np.abs(np.arange(lo, hi) - start)[np.newaxis, :]
    total, steps = cost[0].copy(), np.zeros((h, hi - lo), np.int64)
    across = np.arange(hi - lo)
    for r in range(1, h):
        choices = np.stack([np.concatenate([[np.inf], total[:-1]]), total, np.concatenate([total[1:], [np.inf]])])
        best = choices.argmin(axis=0)
        steps[r] = best - 1
        total = cost[r] + choices[best, across]
    path = np.empty(h, np.int64)
    path[-1] = int(total.argmin())
    for r in range(h - 1, 0, -1):
        path[r - 1] = path[r] + steps[r, path[r]]
    return lo + path


def _cut(clf, ink: InkMap, mask: np.ndarray) -> list[np.ndarray]:
    """A part still as wide as two digits (three or more touching): its best cut, or itself."""
    options = [[mask]] + _cuts(ink, mask)
    if len(options) == 1:
        return [mask]
    _, _, not_a_digit, score = _classify(clf, [(ink, m) for option in options for m in option])
    aspect, values, k = _aspect(mask), [], 0
    score[0] = max(score[0], not_a_digit[0])  # one symbol, a digit or not (see read_number)
    for option in options:
        values.append(float(np.prod(score[k:k + len(option)])) * _prior(len(option), aspect))
        k += len(option)
    return options[int(np.argmax(values))]
