"""Render MNIST digits the way users hand them to the app: pen strokes on canvases and photos.

Why: a model that scores 99% on MNIST can still fail on real drawings; the robustness benchmark
needs inputs that look like what people draw or photograph, made from labelled MNIST digits.

A digit is redrawn with a pen of a chosen width (hub.strokes: skeleton, then a round brush; training draws
part of its MNIST *training* digits with the same pen, never these test digits or these canvases). Each style function takes a (28, 28) uint8 digit and a numpy Generator and
returns what a user would send: a PIL image (canvases) or JPEG bytes (photos).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

from hub.strokes import MNIST_STROKE, brush_mask  # noqa: F401  (the pen model; re-exported to the benchmarks)


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
    return _photo(digit, rng, ruled=False)


def ruled_paper(digit, rng) -> bytes:
    """The same phone photo, on ruled (blue lines) or squared (grey grid) paper whose lines cross the digit."""
    return _photo(digit, rng, ruled=True)


def _photo(digit, rng, ruled):
    shape = (480, 640) if rng.random() < 0.5 else (640, 480)
    H, W = shape
    mask = _stroke(digit, rng, (int(0.35 * min(shape)), int(0.7 * min(shape))), (6, 20), min_ratio=0.04, max_ratio=0.14)
    pad = mask.shape[0] // 3
    digit_height = mask.shape[0]
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
    sheet = paper
    if ruled:
        sheet = paper * (1 - _paper_lines(shape, digit_height, -np.radians(angle), rng))
    rgb = (sheet * (1 - ink_strength * layer) + ink * ink_strength * layer) * light[..., None]
    rgb += rng.normal(0, rng.uniform(3, 10), rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(50, 90)))
    return buffer.getvalue()


def _paper_lines(shape, digit_height, angle, rng):
    """(H, W, 3) darkening of the paper by its printed lines, rotated with the sheet (antialiased).

    Ruled paper: light blue horizontal lines about one digit height apart (the digit crosses one or two);
    squared paper: a grey grid about half a digit apart. Lines 1-3 px wide, 20-45% darker than the paper.
    """
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cos, sin = float(np.cos(angle)), float(np.sin(angle))  # Python floats keep the arrays float32 (speed)
    across = (yy - H / 2) * cos + (xx - W / 2) * sin  # distance along the page's vertical
    along = (xx - W / 2) * cos - (yy - H / 2) * sin
    squared = rng.random() < 0.5
    spacing = float(digit_height * (rng.uniform(0.4, 0.8) if squared else rng.uniform(0.6, 1.1)))
    width = float(rng.uniform(1.0, 3.0))
    phase = float(rng.uniform(0, spacing))

    def lines(coordinate):
        distance = np.abs((coordinate + phase) % spacing - spacing / 2)  # 0 on a line
        return np.clip(width / 2 - distance + 0.5, 0.0, 1.0)

    coverage = lines(across)
    if squared:
        coverage = np.maximum(coverage, lines(along))
    colour = np.array([0.5, 0.3, 0.08]) if not squared else np.array([1.0, 1.0, 1.0])  # blue / grey
    strength = float(rng.uniform(0.2, 0.45))
    return coverage[..., None] * (strength * colour / colour.max()).astype(np.float32)




def _sketchpad(mask, rng):
    layer = _stamp((800, 800), mask, *_place((800, 800), mask.shape, rng))
    gray = (255 * (1 - layer)).round().astype(np.uint8)
    return Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)]), "RGBA")


def bold_marker(digit, rng) -> Image.Image:
    """A felt marker or a big brush on the Sketchpad: strokes 1.5-3x MNIST's width (small loops may close)."""
    height = int(rng.integers(200, 650))
    return _sketchpad(brush_mask(digit, height, MNIST_STROKE * rng.uniform(1.5, 3.0) * height), rng)


def thin_pen(digit, rng) -> Image.Image:
    """A fine pen scanned or drawn on a white page: lines 1-2.5 px wide on a digit 120-600 px tall."""
    shape = [(800, 800), (600, 800), (800, 600), (1000, 1000)][int(rng.integers(4))]
    height = int(rng.integers(120, int(0.75 * min(shape))))
    mask = brush_mask(digit, height, rng.uniform(1.0, 2.5))
    layer = _stamp(shape, mask, *_place(shape, mask.shape, rng))
    ink = rng.uniform(0, 80)
    return Image.fromarray((255 - (255 - ink) * layer).round().astype(np.uint8)).convert("RGB")


def low_resolution(height: int):
    """A style: the MNIST digit itself scanned `height` px tall (area sampling) on a small white thumbnail,
    then upscaled 4-8x with bilinear or bicubic interpolation, as a thumbnail or a far-away photo gives."""

    def render(digit, rng) -> Image.Image:
        rows, cols = np.nonzero(digit.any(axis=1))[0], np.nonzero(digit.any(axis=0))[0]
        crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        scale = height / crop.shape[0]
        small = Image.fromarray(crop).resize((max(1, round(crop.shape[1] * scale)), height), Image.Resampling.BOX)
        side = max(height + 2, round(height * rng.uniform(1.4, 2.0)), small.size[0] + 2)
        canvas = np.zeros((side, side), np.float32)
        top, left = int(rng.integers(0, side - height + 1)), int(rng.integers(0, side - small.size[0] + 1))
        canvas[top : top + height, left : left + small.size[0]] = np.asarray(small, np.float32) / 255.0
        paper, ink = rng.uniform(215, 255), rng.uniform(0, 70)
        thumbnail = Image.fromarray((paper - (paper - ink) * canvas).round().astype(np.uint8))
        factor = int(rng.integers(4, 9))
        method = Image.Resampling.BILINEAR if rng.random() < 0.5 else Image.Resampling.BICUBIC
        return thumbnail.resize((side * factor, side * factor), method)

    render.__doc__ = f"The digit scanned {height} px tall, upscaled 4-8x (bilinear or bicubic)."
    return render


def heavy_ink(digit, rng) -> Image.Image:
    """A bold digit cropped tightly, so that its ink covers more than half of the image; either polarity.

    The stroke starts at 2x MNIST's width and grows until the ink covers over half the picture.
    """
    height = int(rng.integers(60, 300))
    for times in (2.0, 2.5, 3.0, 3.5, 4.0, 4.5):
        mask = brush_mask(digit, height, MNIST_STROKE * times * height)
        if (mask > 0.5).mean() > 0.5:
            break
    paper, ink = rng.uniform(215, 255), rng.uniform(0, 60)
    if rng.random() < 0.3:  # light ink on a dark board
        paper, ink = 255 - paper, 255 - ink
    return Image.fromarray((paper - (paper - ink) * mask).round().astype(np.uint8)).convert("RGB")


STYLES = {
    "sketch_white_canvas": sketch_white_canvas,
    "sketch_transparent": sketch_transparent,
    "white_on_black": white_on_black,
    "small_corner": small_corner,
    "photo": photo,
    "bold_marker": bold_marker,
    "thin_pen": thin_pen,
    "low_res_8px": low_resolution(8),
    "low_res_12px": low_resolution(12),
    "low_res_16px": low_resolution(16),
    "ruled_paper": ruled_paper,
    "heavy_ink": heavy_ink,
}
SKETCH_STYLES = ("sketch_white_canvas", "sketch_transparent", "white_on_black", "small_corner", "bold_marker",
                 "thin_pen")
PHOTO_STYLES = ("photo",)
LOW_RES_STYLES = ("low_res_8px", "low_res_12px", "low_res_16px")

