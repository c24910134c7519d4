"""Redrawing a digit with a pen: its one-pixel skeleton, stroked with a round brush of any width.

Why here: training draws part of its MNIST training digits this way (hub.drawn_digits), so that a uniform pen
stroke is not what tells a drawn non-digit from a digit; the robustness benchmark draws MNIST test digits with the
same pen on its canvases and photos (benchmarks/render_styles.py).

A digit is thinned to a one-pixel skeleton (Zhang-Suen) and redrawn with a round brush of a chosen width,
antialiased, so strokes have the uniform width of a pen or a canvas brush rather than MNIST's own.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

MNIST_STROKE = 2.1 / 20  # MNIST's median stroke width, as a fraction of the digit's height (20 px box)
UPSCALE = 4  # skeletons are computed on a 112x112 copy of the 28x28 digit
MAX_REFINE = 8  # a thin pen's distances are measured on a grid up to this much finer than the skeleton's
# Ink levels (of 255) tried for the skeleton, highest first: a high level keeps small loops open (a filled loop thins
# to a line), but breaks a faint stroke; the first level whose skeleton is in no more pieces than the digit's ink
# (above INK_LEVEL) is taken, else the one in fewest pieces. At 180 alone, 228 of 3,000 test digits were redrawn in
# pieces.
SKELETON_LEVELS = (180, 150, 120, 90)
INK_LEVEL = 64
_EIGHT = np.ones((3, 3), bool)  # 8-connectivity
_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1))  # a skeleton pixel's neighbours ahead of it (each pair drawn once)


def skeleton(digit: np.ndarray) -> np.ndarray:
    """One-pixel skeleton (bool, 112x112) of a 28x28 MNIST digit (Zhang-Suen thinning, vectorised).

    Cached by content: every style redraws the same test digits, and thinning is most of the rendering time.
    """
    return _skeleton(np.ascontiguousarray(digit, dtype=np.uint8).tobytes()).copy()


@lru_cache(maxsize=4096)
def _skeleton(pixels: bytes) -> np.ndarray:
    digit = np.frombuffer(pixels, np.uint8).reshape(28, 28)
    big = np.asarray(Image.fromarray(digit).resize((28 * UPSCALE, 28 * UPSCALE), Image.Resampling.BICUBIC))
    pieces = ndimage.label(digit > INK_LEVEL, _EIGHT)[1]
    best = None
    for level in SKELETON_LEVELS:
        skel = _thinned(big > level)
        count = ndimage.label(skel, _EIGHT)[1]
        if best is None or count < best[0]:
            best = (count, skel)
        if count <= pieces:
            break
    return best[1]


def _thinned(image: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a bool image to one-pixel lines."""
    image = np.pad(image, 1)
    while True:
        changed = False
        for step in (0, 1):
            p = image
            n = [np.roll(p, shift, axis=(0, 1)) for shift in
                 [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)]]
            # neighbours P2..P9 clockwise from north: north is the row above (roll +1 brings it down)
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            count = sum(x.astype(np.uint8) for x in n)
            seq = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            transitions = sum((~a & b).astype(np.uint8) for a, b in zip(seq[:-1], seq[1:]))
            if step == 0:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = p & (count >= 2) & (count <= 6) & (transitions == 1) & cond
            if remove.any():
                image = image & ~remove
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def brush_mask(digit: np.ndarray, height: int, width_px: float) -> np.ndarray:
    """Float mask in [0, 1] of the digit redrawn with a round brush `width_px` wide, the digit's
    ink `height` px tall (antialiased edges, like a canvas brush)."""
    skel = skeleton(digit)
    if not skel.any():
        skel = np.asarray(Image.fromarray(digit).resize((112, 112))) > 128
    rows = np.nonzero(skel.any(axis=1))[0]
    skel_height = rows[-1] - rows[0] + 1
    # The skeleton is shorter than the ink by about one brush width: size the skeleton accordingly.
    scale = max(height - width_px, height * 0.3) / skel_height  # output px per 112-grid px
    size = max(8, round(112 * scale))
    # Stretched from the 112 grid, the distance between two diagonal skeleton pixels is off by up to half a grid
    # step, scale / 2 output px: a pen line thinner than that came out dashed, with whole strokes missing (the
    # robustness benchmark's thin pens until 2026-12-01). Such a line is measured on a grid fine enough to keep
    # the error within a quarter of the line's width + 1 px; wider pens (every other style, training) are not.
    refine = int(min(MAX_REFINE, np.ceil(2 * scale / (width_px + 1))))
    if refine > 1:
        distance = ndimage.distance_transform_edt(~_drawn_finer(skel, refine)) / refine
    else:
        distance = ndimage.distance_transform_edt(~skel)
    field = Image.fromarray(distance.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BILINEAR)
    field = np.asarray(field) * scale
    mask = np.clip(width_px / 2 - field + 0.5, 0.0, 1.0)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _drawn_finer(skel: np.ndarray, refine: int) -> np.ndarray:
    """The skeleton as a line through its pixels' centres on a grid `refine` times finer: neighbours joined, and a
    diagonal step drawn only where no pixel at its corner already joins the two."""
    on = set(zip(*(idx.tolist() for idx in np.nonzero(skel))))
    image = Image.new("1", (skel.shape[1] * refine, skel.shape[0] * refine), 0)
    draw = ImageDraw.Draw(image)
    centre = (refine - 1) / 2
    for r, c in on:
        draw.point((c * refine + centre, r * refine + centre), 1)
        for dr, dc in _STEPS:
            if (r + dr, c + dc) in on and not (dr and dc and ((r + dr, c) in on or (r, c + dc) in on)):
                draw.line([(c * refine + centre, r * refine + centre),
                           ((c + dc) * refine + centre, (r + dr) * refine + centre)], 1)
    return np.asarray(image, bool)
