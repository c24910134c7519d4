"""Synthetic non-digits for training the model's "not_a_digit" class.

Why: a network trained on digits alone answers a confident digit for anything it is shown: letters,
scribbles and shapes got 90%+ confidence more than half the time (issue 11). An extra class trained on
negatives lets the app decline them. Each negative is drawn black on white like a user drawing, then
put through the app's own preprocessing (`hub.preprocess.to_mnist`), so the model sees exactly what it
will see at inference.

Families: letters and symbols from matplotlib's bundled DejaVu fonts (rotated, sheared, scaled, bold or
re-stroked like a pen), smooth random scribbles and polylines, simple shapes (rectangles, triangles,
crosses, plus signs, stars, zigzags, hatching, blobs, irregular polygons, lobed outlines, waves, ladders),
and doodles: several small parts (lines, arcs, dots, little polygons, zigzags) scattered over the page, as
people draw things that are made of pieces. Characters a person could read as a digit are left out
(`DIGIT_LIKE`), and so are circles and lone vertical strokes (a 0, a 1).

The reading benchmark measures declines on negatives from different generators and fonts
(`benchmarks/render_negatives.py`), so it does not reward memorising these.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from hub.preprocess import NoDigitError, to_mnist

__all__ = ["DIGIT_LIKE", "EXCLUDED_CHARACTERS", "FAMILIES", "SCRIBBLES", "SHAPES", "TRAIN_CHARACTERS", "TRAIN_FONT_PREFIX",
           "is_vertical_line", "make_negatives", "make_touching_pairs", "mnist_form", "train_fonts"]

# Characters a person could read as a digit (keyed by that digit): a model must not learn them as "not a digit"
# (issue 11: an ambiguous symbol may be read as the digit), so no generator draws them.
DIGIT_LIKE = {
    "0": "OoQDØø°",
    "1": "Iil|Jj!/\\()[]{}",
    "2": "Zz",
    "3": "",
    "4": "",
    "5": "Ss$§",
    "6": "bGδσ",
    "7": "TΓ",
    "8": "B&β",
    "9": "gq",
}
EXCLUDED_CHARACTERS = frozenset("".join(DIGIT_LIKE.values()) + string.digits + string.whitespace
                                + ".,:;'`\"_")  # punctuation: a dot or tick scaled to 20 px is a blob or a bar

_LETTERS = "".join(c for c in string.ascii_letters if c not in EXCLUDED_CHARACTERS)
_SYMBOLS = "#%*+=?@~^<>-"
_GREEK = "αγλμπψωΔΛΠΣΨΩ"
TRAIN_CHARACTERS = "".join(c for c in _LETTERS + _SYMBOLS + _GREEK if c not in EXCLUDED_CHARACTERS)

TRAIN_FONT_PREFIX = "DejaVu"  # training fonts; the benchmark uses STIX and Computer Modern only
FAMILIES = {"letters": 0.4, "scribbles": 0.2, "shapes": 0.25, "doodles": 0.15}
SCRIBBLES = ("bezier", "spline", "polyline")
SHAPES = ("rectangle", "triangle", "cross", "plus", "star", "zigzag", "hatching", "blob", "polygon", "lobed", "wave",
          "ladder")
DOODLE_PARTS = ("line", "arc", "dot", "polygon", "zigzag")

CANVAS = 112  # px: a drawing is rendered black on white at this size, then preprocessed
FONT_SIZES = (50, 62, 74)
MAX_TRIES = 50  # redraws allowed for one negative (no ink found, or it came out as a lone vertical line)


def make_negatives(count: int, seed: int) -> np.ndarray:
    """`count` non-digits as uint8 (count, 28, 28), white on black in MNIST form; the same for the same seed.

    Shares of the families as in FAMILIES, in random order.
    """
    rng = np.random.default_rng(seed)
    fonts = train_fonts()
    counts = [round(count * share) for share in FAMILIES.values()]
    counts[0] = count - sum(counts[1:])
    kinds = rng.permutation(np.repeat(np.arange(len(FAMILIES)), counts))
    draw = (lambda r: _letter(r, fonts), _scribble, _shape, _doodle)
    out = np.empty((count, 28, 28), np.uint8)
    for i, kind in enumerate(kinds):
        out[i] = mnist_form(draw[kind], rng)
    return out


def train_fonts() -> list[Path]:
    """The DejaVu fonts bundled with matplotlib (imported here only: inference does not need matplotlib)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = sorted(p for p in folder.glob(f"{TRAIN_FONT_PREFIX}*.ttf") if "Display" not in p.name)
    if not fonts:
        raise FileNotFoundError(f"no {TRAIN_FONT_PREFIX} fonts in {folder}")
    return fonts


def mnist_form(draw, rng) -> np.ndarray:
    """Draw (black on white, PIL "L") until preprocessing finds ink that is not a lone vertical stroke."""
    for _ in range(MAX_TRIES):
        try:
            digit = to_mnist(draw(rng))
        except NoDigitError:
            continue
        pixels = np.round(digit * 255).astype(np.uint8)
        if not is_vertical_line(pixels):
            return pixels
    raise RuntimeError("could not draw a negative")  # only with a broken generator


_GRID = np.mgrid[0:28, 0:28].astype(np.float64)


# --------------------------------------------------------------------------- touching digits

PAIR_SCALE = 4  # the two 28x28 digits are joined, then enlarged this much (bilinear), as a drawing is larger
PAIR_OVERLAP = (0, 2)  # px at 28x28: moved this much further together after their ink first touches
PAIR_DROP = 2  # px at 28x28: the second digit sits up to this much higher or lower
PAIR_WIDER = 1.2  # the pair's ink is at least this many times as wide as its wider digit's ...
PAIR_ASPECT = 0.75  # ... and this share of its height (else one digit hides in the other, or two 1s make one bold 1)


def make_touching_pairs(digits: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` pairs of `digits` (uint8 (N, 28, 28), white on black: *training* digits) written so close that
    their ink touches, in MNIST form, uint8 (count, 28, 28); the same for the same seed.

    Why: read whole, two touching digits squeezed into one 20 px box looked like one confident digit to a model
    that never saw them (a "33" read as a "3" at 100%, issue 11). Learned as "not a digit", such a cluster is
    one the reader tries to cut into digits, and declines when it cannot.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, 28, 28), np.uint8)
    for n in range(count):
        out[n] = mnist_form(lambda r: _touching_pair(digits, r), rng)
    return out


def _touching_pair(digits, rng) -> Image.Image:
    """Two random `digits` side by side, the right one slid left until the ink touches; a blank page (which
    `mnist_form` draws again) for a pair that would look like one digit."""
    blank = Image.new("L", (56 * PAIR_SCALE, 28 * PAIR_SCALE), 255)
    left, right = (digits[int(i)] for i in rng.integers(len(digits), size=2))
    right = np.roll(right, int(rng.integers(-PAIR_DROP, PAIR_DROP + 1)), axis=0)
    ours, theirs = left > 127, right > 127
    if not ours.any():
        return blank
    touch = ndimage.binary_dilation(ours)  # the right digit's ink meets this
    offset = _ink_columns(ours)[-1] + 1 - _ink_columns(theirs)[0] if theirs.any() else 28
    for offset in range(offset, -28, -1):
        shifted = np.zeros((28, 84), bool)
        shifted[:, max(offset, 0):offset + 28] = theirs[:, max(-offset, 0):]
        if (shifted[:, :28] & touch).any():
            break
    offset -= int(rng.integers(PAIR_OVERLAP[0], PAIR_OVERLAP[1] + 1))
    page = np.zeros((28, 84), np.uint8)
    page[:, :28] = left
    lo = max(offset, 0)
    np.maximum(page[:, lo:offset + 28], right[:, lo - offset:], out=page[:, lo:offset + 28])
    rows, cols = _ink_columns(page.T > 127), _ink_columns(page > 127)
    widest = max(np.ptp(_ink_columns(d)) + 1 if d.any() else 0 for d in (ours, theirs))
    if np.ptp(cols) + 1 < max(PAIR_WIDER * widest, PAIR_ASPECT * (np.ptp(rows) + 1)):
        return blank
    page = page[:, : np.nonzero(page.max(axis=0))[0][-1] + 3]
    return Image.fromarray(255 - page).resize((page.shape[1] * PAIR_SCALE, 28 * PAIR_SCALE), Image.Resampling.BILINEAR)


def _ink_columns(mask: np.ndarray) -> np.ndarray:
    return np.nonzero(mask.any(axis=0))[0]


def is_vertical_line(pixels: np.ndarray) -> bool:
    """Whether a 28x28 MNIST-form image is one thin stroke within 50 degrees of vertical (it would be a 1:
    MNIST's ones lean up to about 45 degrees). Measured from the ink's second moments: an elongated ink
    distribution (minor/major axis below 0.35).
    """
    weights = pixels.astype(np.float64)
    total = weights.sum()
    if total == 0:
        return False
    yy, xx = _GRID
    my, mx = (weights * yy).sum() / total, (weights * xx).sum() / total
    cyy = (weights * (yy - my) ** 2).sum() / total
    cxx = (weights * (xx - mx) ** 2).sum() / total
    cxy = (weights * (yy - my) * (xx - mx)).sum() / total
    values, vectors = np.linalg.eigh(np.array([[cyy, cxy], [cxy, cxx]]))
    elongation = np.sqrt(max(values[0], 0.0) / max(values[1], 1e-9))
    major = vectors[:, 1]  # (dy, dx) of the main axis
    return bool(elongation < 0.35 and abs(major[0]) > np.cos(np.radians(50)))


# --------------------------------------------------------------------------- letters


@lru_cache(maxsize=64)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _letter(rng, fonts) -> Image.Image:
    """A character in a random DejaVu font: bold or thin, rotated +-15 deg, sheared, stretched; half re-stroked."""
    char = TRAIN_CHARACTERS[int(rng.integers(len(TRAIN_CHARACTERS)))]
    font = _font(fonts[int(rng.integers(len(fonts)))], FONT_SIZES[int(rng.integers(len(FONT_SIZES)))])
    glyph = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(glyph).text((CANVAS / 2, CANVAS / 2), char, fill=255, font=font, anchor="mm",
                               stroke_width=int(rng.integers(0, 5)), stroke_fill=255)
    glyph = _affine(glyph, rng)
    mask = np.asarray(glyph, np.float32) / 255.0
    if rng.random() < 0.5:
        mask = _pen(mask > 0.5, rng.uniform(0.02, 0.08) * CANVAS)
    return Image.fromarray((255 * (1 - mask)).round().astype(np.uint8))


def _affine(image: Image.Image, rng) -> Image.Image:
    """Rotate (+-15 deg), shear (+-0.3) and stretch (0.75-1.25 on each axis) about the centre."""
    angle = np.radians(rng.uniform(-15, 15))
    c, s = np.cos(angle), np.sin(angle)
    forward = (np.array([[c, -s], [s, c]]) @ np.array([[1.0, rng.uniform(-0.3, 0.3)], [0.0, 1.0]])
               @ np.diag(rng.uniform(0.75, 1.25, 2)))
    inverse = np.linalg.inv(forward)
    centre = np.array([CANVAS / 2, CANVAS / 2])
    offset = centre - inverse @ centre
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return image.transform(image.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)


def _pen(mask: np.ndarray, width: float) -> np.ndarray:
    """Redraw a filled glyph as a pen would: its medial ridge (distance-transform maxima) with a round
    brush `width` px wide, antialiased. Uniform strokes, like handwriting rather than type.
    (Worked on the glyph's bounding box plus the brush: a third of the canvas, a third of the time.)"""
    out = np.zeros(mask.shape, np.float32)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return out
    pad = int(np.ceil(width / 2)) + 2
    top, left = max(rows[0] - pad, 0), max(cols[0] - pad, 0)
    box = (slice(top, rows[-1] + pad + 1), slice(left, cols[-1] + pad + 1))
    glyph = mask[box]
    distance = ndimage.distance_transform_edt(glyph)
    # within half a pixel of the local maximum: a connected ridge also along diagonal strokes
    ridge = glyph & (distance >= ndimage.maximum_filter(distance, size=3) - 0.5) & (distance >= 1)
    if not ridge.any():
        return mask.astype(np.float32)
    field = ndimage.distance_transform_edt(~ridge)
    stroked = np.clip(width / 2 - field + 0.5, 0.0, 1.0)
    if ndimage.label(stroked > 0.5)[1] > ndimage.label(glyph)[1]:  # the ridge broke up (dots): keep the type
        return mask.astype(np.float32)
    out[box] = stroked
    return out


# --------------------------------------------------------------------------- scribbles and shapes


def _canvas(lines=(), polygons=(), width=6) -> Image.Image:
    """Black strokes on a white CANVAS: `lines` are point lists (N, 2) drawn `width` px wide with round joints
    and caps; `polygons` are filled."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    for polygon in polygons:
        draw.polygon([tuple(p) for p in polygon], fill=0)
    r = width / 2
    for line in lines:
        points = [tuple(p) for p in np.asarray(line, float)]
        draw.line(points, fill=0, width=int(round(width)), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return image


def _bezier(points: np.ndarray, samples: int = 80) -> np.ndarray:
    """Points on the Bezier curve with these control points (Bernstein form)."""
    from math import comb

    n = len(points) - 1
    t = np.linspace(0, 1, samples)[:, None]
    basis = np.hstack([comb(n, k) * t**k * (1 - t) ** (n - k) for k in range(n + 1)])
    return basis @ points


def _catmull_rom(points: np.ndarray, per_segment: int = 16) -> np.ndarray:
    """A smooth curve through every point (uniform Catmull-Rom spline)."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(points[-1:])
    return np.vstack(out)


def _pen_width(rng) -> float:
    return float(rng.uniform(0.02, 0.09) * CANVAS)


def _scribble(rng) -> Image.Image:
    """A random smooth Bezier curve, a spline through random points, or a polyline (4-10 control points;
    with 3 they are mostly a 7, an L, a V or an arc)."""
    count = int(rng.integers(4, 11))
    points = rng.uniform(0.12 * CANVAS, 0.88 * CANVAS, (count, 2))
    kind = SCRIBBLES[int(rng.choice(len(SCRIBBLES), p=(0.4, 0.4, 0.2)))]
    if kind == "bezier":
        curve = _bezier(points)
    elif kind == "spline":
        curve = _catmull_rom(points)
    else:
        curve = points
    return _canvas(lines=[curve], width=_pen_width(rng))


def _rotate(points: np.ndarray, rng, degrees: float = 180.0) -> np.ndarray:
    angle = np.radians(rng.uniform(-degrees, degrees))
    c, s = np.cos(angle), np.sin(angle)
    centre = np.array([CANVAS / 2, CANVAS / 2])
    return (points - centre) @ np.array([[c, s], [-s, c]]) + centre


def _shape(rng) -> Image.Image:
    """One of SHAPES, outlined with a random pen (or filled), placed and rotated at random."""
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    width = _pen_width(rng)
    half = rng.uniform(0.22, 0.4) * CANVAS  # half the shape's size, px
    c = CANVAS / 2
    if kind == "rectangle":  # squarish or wide (a tall narrow box would be a 0)
        w, h = half, half * rng.uniform(0.55, 1.0)
        box = np.array([[c - w, c - h], [c + w, c - h], [c + w, c + h], [c - w, c + h], [c - w, c - h]])
        box = _rotate(box, rng, 20)
        return _canvas(polygons=[box] if rng.random() < 0.15 else (), lines=[box], width=width)
    if kind == "triangle":
        angles = np.radians(rng.uniform(-90, 270) + np.array([0, 120, 240]) + rng.uniform(-25, 25, 3))
        tri = c + half * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        tri = np.vstack([tri, tri[:1]])
        return _canvas(polygons=[tri] if rng.random() < 0.2 else (), lines=[tri], width=width)
    if kind in ("cross", "plus"):
        a, b = half * rng.uniform(0.7, 1.0, 2)
        arms = [np.array([[c - a, c], [c + a, c]]), np.array([[c, c - b], [c, c + b]])]
        spin = 45.0 if kind == "cross" else 0.0
        angle = spin + rng.uniform(-12, 12)
        return _canvas(lines=_spin(arms, angle), width=width)
    if kind == "star":
        points = 5 if rng.random() < 0.7 else int(rng.integers(6, 8))
        angles = np.radians(rng.uniform(0, 360)) + np.arange(2 * points) * np.pi / points
        radii = np.where(np.arange(2 * points) % 2 == 0, half, half * rng.uniform(0.35, 0.55))
        star = c + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        if points == 5 and rng.random() < 0.4:  # a pentagram, drawn in one stroke
            star = star[::2][[0, 2, 4, 1, 3, 0]]
        else:
            star = np.vstack([star, star[:1]])
        return _canvas(polygons=[star] if rng.random() < 0.2 else (), lines=[star], width=width)
    if kind == "zigzag":
        teeth = int(rng.integers(4, 9))
        xs = np.linspace(c - half, c + half, teeth + 1)
        amplitude = half * rng.uniform(0.25, 0.6)
        ys = c + amplitude * np.where(np.arange(teeth + 1) % 2 == 0, -1, 1)
        zig = _rotate(np.stack([xs, ys], axis=1), rng, 30)
        return _canvas(lines=[zig], width=width)
    if kind == "hatching":
        n = int(rng.integers(3, 7))
        offsets = np.linspace(-half, half, n)
        lines = [np.array([[c - half, c + o], [c + half, c + o]]) for o in offsets]
        if rng.random() < 0.5:  # cross-hatching
            lines += [np.array([[c + o, c - half], [c + o, c + half]]) for o in offsets]
        angle = rng.uniform(-60, 60)
        return _canvas(lines=_spin(lines, angle), width=min(width, 2 * half / n))
    if kind == "polygon":  # irregular, 5-9 corners at uneven distances (never close to a circle); sometimes open
        corners = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = half * _uneven(rng, corners, 0.3)
        ring = c + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        ring = ring if rng.random() < 0.25 else np.vstack([ring, ring[:1]])
        return _canvas(lines=[ring], width=width)
    if kind == "lobed":  # a smooth closed outline with deep lobes, not filled (a blob, a cloud, a flower)
        lobes = int(rng.integers(3, 8))
        t = np.linspace(0, 2 * np.pi, 160)
        r = 1.0 - rng.uniform(0.3, 0.55) * (0.5 + 0.5 * np.cos(lobes * t + rng.uniform(0, 2 * np.pi)))
        outline = c + half * r[:, None] * np.stack([np.cos(t) * rng.uniform(0.8, 1.2), np.sin(t)], axis=1)
        return _canvas(lines=[outline], width=width)
    if kind == "wave":  # a smooth wave of 1.5-4 periods, tilted up to 30 degrees
        periods = rng.uniform(1.5, 4.0)
        xs = np.linspace(-1, 1, 120)
        ys = rng.uniform(0.15, 0.5) * np.sin(np.pi * periods * xs + rng.uniform(0, 2 * np.pi))
        wave = _rotate(c + half * np.stack([xs, ys], axis=1), rng, 30)
        return _canvas(lines=[wave], width=width)
    if kind == "ladder":  # two rails and 3-6 rungs, any angle (a fence, a railway, a comb)
        rungs = int(rng.integers(3, 7))
        gap = half * rng.uniform(0.3, 0.7)
        rails = [np.array([[c - half, c - gap], [c + half, c - gap]]), np.array([[c - half, c + gap], [c + half, c + gap]])]
        xs = np.linspace(c - half * 0.9, c + half * 0.9, rungs)
        steps = [np.array([[x, c - gap], [x, c + gap]]) for x in xs]
        lines = rails[: 1 if rng.random() < 0.3 else 2] + steps  # one rail: a comb
        return _canvas(lines=_spin(lines, rng.uniform(-90, 90)), width=min(width, half / rungs))
    # blob: an irregular filled shape (lobed, never a disc)
    lobes = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, lobes))
    radii = half * rng.uniform(0.35, 1.0, lobes)
    ring = c + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    outline = _catmull_rom(np.vstack([ring, ring[:1]]))
    return _canvas(polygons=[outline], lines=[outline], width=width)


def _spin(lines, degrees: float):
    """Rotate point lists about the canvas centre by `degrees`."""
    angle = np.radians(degrees)
    c, s = np.cos(angle), np.sin(angle)
    centre = np.array([CANVAS / 2, CANVAS / 2])
    return [(np.asarray(line, float) - centre) @ np.array([[c, s], [-s, c]]) + centre for line in lines]


def _uneven(rng, count: int, spread: float) -> np.ndarray:
    """`count` radii between 0.35 and 1.0 whose smallest is at most `1 - spread` of the largest (not a circle)."""
    while True:
        radii = rng.uniform(0.35, 1.0, count)
        if radii.min() <= (1 - spread) * radii.max():
            return radii


def _doodle(rng) -> Image.Image:
    """3-5 small parts (a line, an arc, a dot, a small polygon, a zigzag) scattered over the page, drawn
    with one pen: things people draw in pieces. No closed round loop (a 0, the loops of 6, 8 and 9)."""
    width = _pen_width(rng) * 0.8
    lines, polygons = [], []
    for _ in range(int(rng.integers(3, 6))):
        part = DOODLE_PARTS[int(rng.integers(len(DOODLE_PARTS)))]
        centre = rng.uniform(0.2, 0.8, 2) * CANVAS
        size = rng.uniform(0.08, 0.2) * CANVAS
        if part == "line":
            angle = rng.uniform(0, np.pi)
            step = size * np.array([np.cos(angle), np.sin(angle)])
            lines.append(np.array([centre - step, centre + step]))
        elif part == "arc":
            start, span = rng.uniform(0, 2 * np.pi), rng.uniform(np.pi / 3, np.pi)
            t = np.linspace(start, start + span, 24)
            lines.append(centre + size * np.stack([np.cos(t), np.sin(t)], axis=1))
        elif part == "dot":
            r = rng.uniform(0.02, 0.05) * CANVAS
            t = np.linspace(0, 2 * np.pi, 16)
            polygons.append(centre + r * np.stack([np.cos(t), np.sin(t)], axis=1))
        elif part == "polygon":
            corners = int(rng.integers(3, 5))
            angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
            ring = centre + size * np.stack([np.cos(angles), np.sin(angles)], axis=1)
            lines.append(np.vstack([ring, ring[:1]]))
        else:  # zigzag
            teeth = int(rng.integers(3, 6))
            xs = np.linspace(-size, size, teeth + 1)
            ys = 0.4 * size * np.where(np.arange(teeth + 1) % 2 == 0, -1, 1)
            lines.append(centre + np.stack([xs, ys], axis=1))
    return _canvas(lines=lines, polygons=polygons, width=width)
