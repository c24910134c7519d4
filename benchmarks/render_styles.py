"""Render MNIST digits the way users hand them to the app: pen strokes on canvases and photos.

Why: a model that scores 99% on MNIST can still fail on real drawings; the robustness benchmark
needs inputs that look like what people draw or photograph, made from labelled MNIST digits.

A digit is thinned to a one-pixel skeleton (Zhang-Suen) and redrawn with a round brush of a
chosen width, antialiased, so strokes have the uniform width of a pen or a canvas brush rather
than MNIST's own. Each style function takes a (28, 28) uint8 digit and a numpy Generator and
returns what a user would send: a PIL image (canvases) or JPEG bytes (photos).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

UPSCALE = 4  # skeletons are computed on a 112x112 copy of the 28x28 digit


def skeleton(digit: np.ndarray) -> np.ndarray:
    """One-pixel skeleton (bool, 112x112) of a 28x28 MNIST digit (Zhang-Suen thinning, vectorised)."""
    big = Image.fromarray(digit).resize((28 * UPSCALE, 28 * UPSCALE), Image.Resampling.BICUBIC)
    image = np.pad(np.asarray(big) > 180, 1)  # high: keeps small loops open (a filled loop thins to a line)
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
    distance = ndimage.distance_transform_edt(~skel)
    rows = np.nonzero(skel.any(axis=1))[0]
    skel_height = rows[-1] - rows[0] + 1
    # The skeleton is shorter than the ink by about one brush width: size the skeleton accordingly.
    scale = max(height - width_px, height * 0.3) / skel_height  # output px per 112-grid px
    size = max(8, round(112 * scale))
    field = Image.fromarray(distance.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BILINEAR)
    field = np.asarray(field) * scale
    mask = np.clip(width_px / 2 - field + 0.5, 0.0, 1.0)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _place(canvas_shape, mask_shape, rng, margin=10, corner=False):
    h, w = mask_shape
    H, W = canvas_shape
    if corner:
        top = rng.choice([margin, H - h - margin]) + int(rng.integers(0, 30))
        left = rng.choice([margin, W - w - margin]) + int(rng.integers(0, 30))
        return int(np.clip(top, 0, H - h)), int(np.clip(left, 0, W - w))
    return int(rng.integers(margin, max(margin + 1, H - h - margin))), int(rng.integers(margin, max(margin + 1, W - w - margin)))


def _stamp(shape, mask, top, left):
    layer = np.zeros(shape, np.float32)
    h, w = mask.shape
    h, w = min(h, shape[0] - top), min(w, shape[1] - left)
    layer[top : top + h, left : left + w] = mask[:h, :w]
    return layer


def _stroke(digit, rng, height_range, width_range, max_ratio=0.2, min_ratio=0.035):
    height = int(rng.integers(*height_range))
    width = float(np.clip(rng.uniform(*width_range), min_ratio * height, max_ratio * height))
    return brush_mask(digit, height, width)


def sketch_white_canvas(digit, rng) -> Image.Image:
    """Gradio 6.31 Sketchpad composite: 800x800 RGBA, opaque white, black brush, anywhere on it."""
    mask = _stroke(digit, rng, (200, 650), (12, 48))
    layer = _stamp((800, 800), mask, *_place((800, 800), mask.shape, rng))
    gray = (255 * (1 - layer)).round().astype(np.uint8)
    return Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)]), "RGBA")


def sketch_transparent(digit, rng) -> Image.Image:
    """A canvas exported as PNG with a transparent background: ink only in alpha, any ink colour."""
    shape = [(800, 800), (400, 600), (600, 400), (512, 512)][int(rng.integers(4))]
    mask = _stroke(digit, rng, (int(0.3 * min(shape)), int(0.85 * min(shape))), (6, 40))
    layer = _stamp(shape, mask, *_place(shape, mask.shape, rng))
    colour = [(0, 0, 0), (20, 40, 200), (200, 30, 30), (255, 255, 255), (30, 30, 30)][int(rng.integers(5))]
    rgb = np.empty(shape + (3,), np.uint8)
    rgb[:] = colour
    return Image.fromarray(np.dstack([rgb, (255 * layer).round().astype(np.uint8)]), "RGBA")


def white_on_black(digit, rng) -> Image.Image:
    """A dark-theme canvas: white brush on opaque black, RGB."""
    shape = [(800, 800), (600, 600), (480, 640)][int(rng.integers(3))]
    mask = _stroke(digit, rng, (int(0.3 * min(shape)), int(0.8 * min(shape))), (10, 45))
    layer = _stamp(shape, mask, *_place(shape, mask.shape, rng))
    return Image.fromarray((255 * layer).round().astype(np.uint8)).convert("RGB")


def small_corner(digit, rng) -> Image.Image:
    """A small digit in a corner of the 800x800 white Sketchpad canvas."""
    mask = _stroke(digit, rng, (50, 120), (5, 14), max_ratio=0.2, min_ratio=0.06)
    layer = _stamp((800, 800), mask, *_place((800, 800), mask.shape, rng, margin=15, corner=True))
    gray = (255 * (1 - layer)).round().astype(np.uint8)
    return Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)]), "RGBA")


def photo(digit, rng) -> bytes:
    """A phone photo of a digit written on paper: tinted paper, uneven lighting and a vignette,
    a pen stroke slightly blurred, a small rotation, sensor noise, JPEG compression."""
    shape = (480, 640) if rng.random() < 0.5 else (640, 480)
    H, W = shape
    mask = _stroke(digit, rng, (int(0.35 * min(shape)), int(0.7 * min(shape))), (6, 20), min_ratio=0.04, max_ratio=0.14)
    pad = mask.shape[0] // 3
    mask = np.pad(mask, pad)
    angle = float(rng.uniform(-12, 12))
    mask = np.asarray(Image.fromarray(mask.astype(np.float32), "F").rotate(angle, Image.Resampling.BILINEAR))
    mask = ndimage.gaussian_filter(mask, float(rng.uniform(0.5, 1.5)))
    mask = mask[: min(mask.shape[0], H), : min(mask.shape[1], W)]
    top = int(rng.integers(0, H - mask.shape[0] + 1))
    left = int(rng.integers(0, W - mask.shape[1] + 1))
    layer = _stamp(shape, mask, top, left)[..., None]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - W / 2) * np.cos(theta) + (yy - H / 2) * np.sin(theta)) / max(H, W)
    r2 = ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / (max(H, W) / 2) ** 2
    light = 1.0 + rng.uniform(0.2, 0.5) * ramp - rng.uniform(0.1, 0.3) * r2
    paper = np.array([rng.uniform(200, 245)] * 3) * (1 + rng.uniform(-0.05, 0.05, 3))
    ink = np.array([40, 40, 45]) if rng.random() < 0.6 else np.array([30, 40, 120])  # pencil/pen or blue
    ink = ink * rng.uniform(0.6, 1.6)
    ink_strength = rng.uniform(0.75, 1.0)
    rgb = (paper * (1 - ink_strength * layer) + ink * ink_strength * layer) * light[..., None]
    rgb += rng.normal(0, rng.uniform(3, 10), rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(50, 90)))
    return buffer.getvalue()


STYLES = {
    "sketch_white_canvas": sketch_white_canvas,
    "sketch_transparent": sketch_transparent,
    "white_on_black": white_on_black,
    "small_corner": small_corner,
    "photo": photo,
}
SKETCH_STYLES = ("sketch_white_canvas", "sketch_transparent", "white_on_black", "small_corner")
