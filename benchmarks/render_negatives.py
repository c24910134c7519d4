"""Non-digits for the reading benchmark: letters, scribbles and shapes, in MNIST form, so that every user
style of `render_styles` draws them exactly as it draws a digit.

Why separate generators: the model's "not_a_digit" class is trained on `hub.negatives` (DejaVu fonts,
Bezier and spline scribbles, polylines, boxes, triangles, crosses, stars, zigzags, hatching, blobs). A
benchmark built from the same generators would measure memory, not declining. Here no font and no
shape family is shared with training: letters come from the STIX and Computer Modern fonts, scribbles
from a wandering pen (a heading that swings around a drift) and looped cursive-like strokes, shapes are hearts, arrows, smileys,
houses, check marks, spirals, clouds, lightning bolts and moons. The same digit-like characters are left
out (`hub.negatives.EXCLUDED_CHARACTERS`), as are circles and lone near-vertical strokes.

Each generator takes a numpy Generator and returns a (28, 28) uint8 white-on-black image (a drawing made
black on white, then put through `hub.preprocess.to_mnist`, the same preprocessing the app applies) and what
it drew within its kind (font family, pen, shape name), so that the benchmark can say which families it misses.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hub.negatives import EXCLUDED_CHARACTERS, mnist_form  # the same "draw until preprocessing finds ink" loop

CANVAS = 128  # px: drawings are made black on white at this size

# Held-out fonts (never DejaVu, which trains the model). The Computer Modern fonts bundled with matplotlib
# map only letters and a few symbols to their usual code points, so they get the smaller character set.
STIX_FONTS = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf")
CM_FONTS = ("cmr10.ttf", "cmti10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf")
BENCHMARK_FONTS = STIX_FONTS + CM_FONTS
CM_CHARACTERS = "".join(c for c in string.ascii_letters + "#@%?+=*" if c not in EXCLUDED_CHARACTERS)
STIX_CHARACTERS = CM_CHARACTERS + "".join(c for c in "<>~^αηλμπψωΔΛΠΣΨΩ" if c not in EXCLUDED_CHARACTERS)

SCRIBBLES = ("wandering_pen", "loops")
SHAPES = ("heart", "arrow", "smiley", "house", "check_mark", "spiral", "cloud", "lightning", "moon")


def make_benchmark_negatives(count: int, seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    """`count` non-digits, uint8 (count, 28, 28) in MNIST form, the kind of each ("letters", "scribbles",
    "shapes", in turn: equal thirds) and what each is within its kind (the font family, the scribble's pen, the
    shape's name: where the declines fail). The same for the same seed."""
    rng = np.random.default_rng(seed)
    names = list(NEGATIVE_KINDS)
    kinds = [names[i % len(names)] for i in range(count)]
    images = np.empty((count, 28, 28), np.uint8)
    details = []
    for i, kind in enumerate(kinds):
        images[i], detail = NEGATIVE_KINDS[kind](rng)
        details.append(detail)
    return images, kinds, details


def font_folder() -> Path:
    import matplotlib  # only where fonts are needed (benchmark and training environments have it)

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def letter(rng) -> tuple[np.ndarray, str]:
    """A letter or symbol in a STIX or Computer Modern font, rotated up to 20 degrees, stretched 0.8-1.25x; and
    the font family."""
    name = BENCHMARK_FONTS[int(rng.integers(len(BENCHMARK_FONTS)))]
    chars = STIX_CHARACTERS if name in STIX_FONTS else CM_CHARACTERS

    def draw(rng):
        char = chars[int(rng.integers(len(chars)))]
        image = Image.new("L", (CANVAS, CANVAS), 0)
        ImageDraw.Draw(image).text((CANVAS / 2, CANVAS / 2), char, fill=255, font=_font(name, int(rng.integers(56, 84))),
                                   anchor="mm")
        stretch = rng.uniform(0.8, 1.25)
        image = image.resize((max(8, round(CANVAS * stretch)), CANVAS), Image.Resampling.BILINEAR)
        image = image.rotate(rng.uniform(-20, 20), Image.Resampling.BILINEAR, expand=True)
        return Image.fromarray(255 - np.asarray(image))

    return mnist_form(draw, rng), "STIX" if name in STIX_FONTS else "Computer Modern"


@lru_cache(maxsize=128)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_folder() / name), size)


def scribble(rng) -> tuple[np.ndarray, str]:
    """A wandering pen: a line whose heading swings around a drift direction, with a wandering amplitude and
    pace (waves where it swings little, loops where it swings past half a turn), or a regular looped stroke
    (a prolate trochoid: "llll" or "eeee" written without lifting the pen).

    Both drift across the page, so a loop never closes on itself alone (a free random walk curls into 6s,
    8s and 9s, which a person would read as digits). Returns the image and which of the two pens drew it.
    """
    pen = []  # the kind of the last drawing (mnist_form draws again when a drawing finds no ink)

    def draw(rng):
        pen.append(SCRIBBLES[0] if rng.random() < 0.6 else SCRIBBLES[1])
        if pen[-1] == SCRIBBLES[0]:
            path = _wandering_pen(rng)
        else:
            loops = rng.uniform(2.0, 5.0)
            t = np.linspace(0, 2 * np.pi * loops, int(60 * loops))
            radius = rng.uniform(1.3, 2.5)
            path = np.stack([t - radius * np.sin(t), -radius * rng.uniform(0.8, 1.6) * np.cos(t)], axis=1)
            path = _turn(path, rng.uniform(-0.4, 0.4))
        return _draw([path], width=_width(rng))

    image = mnist_form(draw, rng)
    return image, pen[-1]


def _wandering_pen(rng) -> np.ndarray:
    """Points of a pen whose heading swings (up to about 150 degrees) around a drift direction, drawn again
    until the stroke is at least twice as long as it is wide (compact tangles look like an 8)."""
    while True:
        steps = int(rng.integers(60, 150))
        k = np.arange(steps)
        phase = np.cumsum(rng.uniform(0.1, 0.3) * (1 + rng.normal(0, 0.3, steps)))
        amplitude = rng.uniform(0.8, 2.1) + 0.5 * np.sin(k * rng.uniform(0.005, 0.03) + rng.uniform(0, 2 * np.pi))
        heading = rng.uniform(-0.5, 0.5) + rng.choice([0.0, np.pi]) + amplitude * np.sin(phase)
        path = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
        spread = np.linalg.eigvalsh(np.cov(path.T))
        if spread[0] <= 0.25 * spread[1]:
            return path


def shape(rng) -> tuple[np.ndarray, str]:
    """A doodle: heart, arrow, smiley, house, check mark, spiral, cloud, lightning bolt or crescent moon; and its
    name."""
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    return mnist_form(lambda rng: _draw(*_SHAPE_DRAWERS[kind](rng), width=_width(rng)), rng), kind


NEGATIVE_KINDS = {"letters": letter, "scribbles": scribble, "shapes": shape}


# --------------------------------------------------------------------------- shapes (unit-size outlines)


def _heart(rng):
    t = np.linspace(0, 2 * np.pi, 120)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [_turn(np.stack([x, y], axis=1), rng.uniform(-0.3, 0.3))], []


def _arrow(rng):
    """An arrow pointing sideways or diagonally (an upright arrow is a 1 with a hat): a line or a block outline."""
    angle = rng.choice([0.0, np.pi]) + rng.uniform(-0.8, 0.8)
    head = rng.uniform(0.25, 0.45)
    if rng.random() < 0.5:
        strokes = [np.array([[-1, 0], [1, 0]]), np.array([[1 - head, -head], [1, 0], [1 - head, head]])]
    else:
        w = rng.uniform(0.12, 0.25)
        strokes = [np.array([[-1, -w], [1 - head, -w], [1 - head, -2 * w - 0.1], [1, 0], [1 - head, 2 * w + 0.1],
                             [1 - head, w], [-1, w], [-1, -w]])]
    return [_turn(s.astype(float), angle) for s in strokes], []


def _smiley(rng):
    t = np.linspace(0, 2 * np.pi, 100)
    face = np.stack([np.cos(t), np.sin(t)], axis=1)
    smile = np.linspace(0.2 * np.pi, 0.8 * np.pi, 30)
    sad = rng.random() < 0.3
    mouth = np.stack([0.55 * np.cos(smile), (0.85 - 0.45 * np.sin(smile)) if sad else 0.5 * np.sin(smile)], axis=1)
    eye = 0.12
    eyes = [np.array([[x, -0.3 - eye], [x, -0.3 + eye]]) for x in (-0.35, 0.35)]
    return [face, mouth, *eyes], []


def _house(rng):
    roof = rng.uniform(0.5, 0.9)
    body = np.array([[-1, 0], [-1, 1.2], [1, 1.2], [1, 0], [-1, 0], [0, -roof], [1, 0]], float)
    strokes = [body]
    if rng.random() < 0.6:
        strokes.append(np.array([[-0.25, 1.2], [-0.25, 0.6], [0.25, 0.6], [0.25, 1.2]]))
    return strokes, []


def _check_mark(rng):
    short = rng.uniform(0.3, 0.5)
    return [_turn(np.array([[-short, 0.0], [0.0, short], [1.0, -0.8]]), rng.uniform(-0.3, 0.3))], []


def _spiral(rng):
    turns = rng.uniform(1.8, 2.6)  # more turns shrink to rings (a 0) at 28 px
    t = np.linspace(0, 2 * np.pi * turns, int(60 * turns))
    r = 0.1 + 0.9 * t / t[-1]
    spiral = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return [spiral * np.array([1.0, rng.choice([-1.0, 1.0])])], []


def _cloud(rng):
    """A row of bumps on top, a flat or bumpy bottom: wider than tall (not a 0)."""
    bumps = int(rng.integers(3, 6))
    points = []
    for i in range(bumps):
        centre = -1 + (2 * i + 1) / bumps
        r = 1 / bumps * rng.uniform(1.0, 1.3)
        t = np.linspace(np.pi, 2 * np.pi, 20)
        points.append(np.stack([centre + r * np.cos(t), -0.1 + r * np.sin(t) * rng.uniform(1.0, 1.8)], axis=1))
    top = np.vstack(points)
    return [np.vstack([top, [[1, 0.35], [-1, 0.35]], top[:1]])], []


def _lightning(rng):
    bolt = np.array([[0.2, -1], [-0.5, 0.1], [0.05, 0.1], [-0.3, 1], [0.6, -0.2], [0.05, -0.2], [0.5, -1], [0.2, -1]])
    return [_turn(bolt, rng.uniform(-0.4, 0.4))], []


def _moon(rng):
    """A fat crescent (outline, sometimes filled): the outer arc, and an inner arc bulging the same way."""
    horn = rng.uniform(0.25, 0.45) * np.pi  # the horns' angle from the opening's axis
    t = np.linspace(horn, 2 * np.pi - horn, 60)
    outer = np.stack([np.cos(t), np.sin(t)], axis=1)
    h = np.sin(horn)
    y = np.linspace(-h, h, 30)
    inner = np.stack([np.cos(horn) - (np.cos(horn) + 1) * rng.uniform(0.35, 0.65) * np.sqrt(1 - (y / h) ** 2), y],
                     axis=1)
    crescent = _turn(np.vstack([outer, inner]), rng.uniform(0, 2 * np.pi))
    return [crescent], [crescent] if rng.random() < 0.3 else []


_SHAPE_DRAWERS = {"heart": _heart, "arrow": _arrow, "smiley": _smiley, "house": _house, "check_mark": _check_mark,
                  "spiral": _spiral, "cloud": _cloud, "lightning": _lightning, "moon": _moon}


# --------------------------------------------------------------------------- drawing


def _turn(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(points, float) @ np.array([[c, s], [-s, c]])


def _width(rng) -> float:
    return float(rng.uniform(0.03, 0.08) * CANVAS)


def _fit(points: np.ndarray, lines=()) -> np.ndarray:
    """Scale and move points (any units) into the middle 80% of the canvas, by the extent of all `lines`."""
    every = np.vstack([points, *lines])
    low, high = every.min(axis=0), every.max(axis=0)
    scale = 0.8 * CANVAS / max(float((high - low).max()), 1e-6)
    return (points - (low + high) / 2) * scale + CANVAS / 2


def _draw(strokes, fills=(), width=4.0) -> Image.Image:
    """Black pen strokes (point lists, any units: fitted together to the canvas) and filled polygons on white."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    everything = list(strokes) + list(fills)
    fitted = [_fit(s, everything) for s in everything]
    for polygon in fitted[len(strokes):]:
        draw.polygon([tuple(p) for p in polygon], fill=0)
    r = width / 2
    for line in fitted[: len(strokes)]:
        points = [tuple(p) for p in line]
        draw.line(points, fill=0, width=max(1, round(width)), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return image
