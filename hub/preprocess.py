"""Turning images into what the model expects: float32 (N, 28, 28, 1) in [0, 1], white on black.

MNIST digits are white on black, scaled so the longer side of the ink is 20 px (aspect kept,
antialiased), and placed in 28x28 so the center of mass sits at pixel (14, 14). A model trained
on that fails on a plain resize of a drawing or photo, so `to_mnist` redoes those steps on any
image: find the ink (either polarity, after flattening uneven lighting; heavy ink covering most of
the picture included), keep a thin or blurry stroke in one piece (hysteresis), crop to it, bring
its stroke width into MNIST's range, scale, center. A 28x28 image already in MNIST form is kept.

Decoding (any source -> a checked PIL image) is `hub.images`; its `load_image` and
`ImageInputError` are re-exported here because every caller of this module needs them.

Public API:
- `to_mnist(image)`: one image -> (28, 28) float32 in [0, 1], MNIST form.
- `to_model_batch(images)`: many images -> (N, 28, 28, 1) float32, the same values as `to_mnist`
  one by one; uint8 arrays (N, 28, 28) of MNIST-form digits are rescaled in one vectorised step.
- `is_mnist_form(digits)`: the rule that decides which 28x28 images are already MNIST digits.
- `mnist_to_input(x_uint8)`: MNIST uint8 (N, 28, 28) -> model input.
- `ImageInputError` (bad input), `NoDigitError` (valid image, but nothing drawn on it).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from hub.images import ImageInputError, load_image

__all__ = ["ImageInputError", "NoDigitError", "is_mnist_form", "load_image", "mnist_to_input", "to_mnist",
           "to_model_batch"]

CANVAS = 28  # MNIST image side
DIGIT_BOX = 20  # longer side of the digit inside the canvas
CENTER = 14.0  # where MNIST puts the center of mass (measured on the test set: 13.99, 14.01)

COARSE_SIDE = 96  # ink is located on a copy about this big (speed)
FINE_SIDE = 4 * DIGIT_BOX  # the digit crop is measured at this size before the final 20 px resize
MIN_CONTRAST = 0.12  # ink must differ from the paper by this much (fraction of full range)
MIN_SEPARATION = 6.0  # ... and by this many (robust) standard deviations of the paper's noise
MIN_STROKE = 1.8  # strokes thinner than this (px in the 20 px box) are widened ...
TARGET_STROKE = 2.2  # ... to this (MNIST: median 2.1)
MAX_STROKE = 3.0  # strokes bolder than this (felt markers) are thinned ...
BOLD_TARGET = 2.6  # ... to this (measured: thinning to 2.2 loses more shape than it gains)
WEAK_FRACTION_CLEAN = 0.1  # hysteresis: ink above this fraction of the threshold joins a stroke it touches
CLEAN_NOISE = 0.005  # paper noise below this: a digital canvas or a clean scan (0 there; photos: 0.009 up)
LOW_FRACTION = 0.5  # fine scale: ink below this fraction of the threshold is paper (photos) ...
LOW_FRACTION_CLEAN = 0.15  # ... or below this on clean canvases (keeps thin and blurry strokes whole)
EDGE_PART = 0.2  # a second part touching the image edge (a photo corner, a shadow) must weigh this much of the main
PAPER_FILL = 5  # paper level: a patch of ink-filled blocks (a bold stroke) takes the median of this many blocks around
HEAVY_INK = 0.3  # above this share of ink the paper level is taken as one value, not per block


class NoDigitError(ImageInputError):
    """A valid image with no visible digit on it (an empty canvas, a blank page)."""


NO_DIGIT_MESSAGE = "No digit found in the image: draw a digit (or upload a picture of one) and try again."


def mnist_to_input(images):
    """Scale MNIST-form uint8 digits (N, 28, 28) to the model's float32 (N, 28, 28, 1) input in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return _scale(images)


# --------------------------------------------------------------------------- to MNIST form


def to_mnist(image) -> np.ndarray:
    """One image (anything `load_image` accepts) -> (28, 28) float32 in [0, 1], MNIST form.

    A 28x28 image already in MNIST form (see `is_mnist_form`) is only rescaled, whatever its container
    (array, PIL image, file); everything else gets the full preprocessing.
    Raises NoDigitError when no digit is visible, ImageInputError for unusable input.
    """
    image = load_image(image, max_side=4 * COARSE_SIDE)
    if image.size == (CANVAS, CANVAS) and (image.mode != "RGBA" or image.getextrema()[3][0] == 255):
        gray = _scale(np.asarray(image if image.mode == "L" else image.convert("L"))[np.newaxis])
        if is_mnist_form(gray)[0]:
            return gray[0]
    return _mnist_from_pil(image)


def is_mnist_form(digits: np.ndarray) -> np.ndarray:
    """Which of these (N, 28, 28) float images in [0, 1] are already MNIST digits: a dark border (the
    outer ring of pixels averages below 0.25; MNIST's is 0) around something bright (a pixel above 0.5).

    Such images are used as they are; any other image (black on white, a photo, a blank) is preprocessed.
    """
    return (digits[:, _BORDER].mean(axis=1) < 0.25) & (digits.max(axis=(1, 2)) > 0.5)


def _scale(pixels: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]: the one conversion training, `to_mnist` and the batch path use (same bits)."""
    return pixels.astype(np.float32) / 255.0


def _mnist_from_pil(image):
    ink = InkMap(image)
    return ink.to_mnist(ink.digit_mask())


def coarse_factor(size, coarse_side: int = COARSE_SIDE) -> int:
    """Full-resolution pixels per coarse pixel for a coarse copy about `coarse_side` px on its long side."""
    width, height = size
    return max(1, min(round(max(width, height) / coarse_side), min(width, height)))  # thin images keep 1 row


class InkMap:
    """The ink of one image on a coarse copy, split into connected strokes; any group of them -> an MNIST digit.

    Why one class: `to_mnist` (the digit = the heaviest stroke and its near parts) and `hub.reading` (every digit
    of a number) find ink the same way: polarity, paper level and noise (`_paper`), a threshold with hysteresis and
    connected components (`_components`); then each digit is cut from the full-resolution image (`to_mnist`).
    `coarse_side` is the long side of the coarse copy (default COARSE_SIDE: one digit fills the image).
    `paper` (dark ink, paper level, noise) skips measuring the paper: for a part cut from an image already mapped.
    Raises NoDigitError when nothing stands out from the paper's noise.

    Attributes: `factor` (full-resolution pixels per coarse pixel), `labels` (coarse int map, 0 = paper, i = stroke
    i), `mass` (ink of each stroke, index 0 unused; 0 for strokes without a strong pixel), `slices` (bounding
    slices of each stroke, index i - 1), `edge` (which strokes touch the image edge).
    """

    def __init__(self, image, coarse_side: int = COARSE_SIDE, paper: tuple[bool, float, float] | None = None):
        self.page = _Page(image)
        width, height = self.size = image.size
        factor = coarse_factor(image.size, coarse_side)
        values = self.page.sample(factor, (0, 0, width // factor * factor, height // factor * factor))
        if paper is None:
            dark_ink, paper, noise = _paper(values)
        else:  # (dark ink, paper level, noise) from a map of the whole image: `image` is a small part of it
            dark_ink, level, noise = paper
            paper = np.full(values.shape, level, np.float32)
        ink = paper - values if dark_ink else values - paper
        np.maximum(ink, 0.0, out=ink)
        self.factor, self.dark_ink, self.paper, self.noise, self.ink = factor, dark_ink, paper, noise, ink
        self.threshold, self.labels, self.mass, self.slices = _components(ink, noise, self._contrast())
        shape = ink.shape
        self.edge = np.array([s is not None and (s[0].start == 0 or s[1].start == 0 or s[0].stop == shape[0]
                                                 or s[1].stop == shape[1]) for s in self.slices])

    def _contrast(self) -> float:
        """How far the strongest ink differs from the paper, at full resolution.

        The coarse copy averages a fine pen line (1-2 px wide) with the paper around it: on a large canvas
        it keeps a tenth of the line's contrast, below MIN_CONTRAST. So when the coarse peak is faint, its
        block is looked at in full resolution (a few hundred pixels: cheap).
        """
        ink, f = self.ink, self.factor
        top = float(ink.max())
        if top >= MIN_CONTRAST or f == 1 or top <= 0.0:
            return top
        r, c = np.unravel_index(int(np.argmax(ink)), ink.shape)
        block = self.page.sample(1, (int(c) * f, int(r) * f, (int(c) + 1) * f, (int(r) + 1) * f))
        paper = float(self.paper[r, c])
        return max(top, float(paper - block.min()) if self.dark_ink else float(block.max() - paper))

    @property
    def is_default_scale(self) -> bool:
        """Whether this map is the one `to_mnist` uses (COARSE_SIDE), so `digit_mask` gives its very crop."""
        return self.factor == coarse_factor(self.size, COARSE_SIDE)

    def _in_a_corner(self, box) -> bool:
        """Whether a stroke's box meets two adjacent edges of the image: on a photo, a dark corner (vignette,
        shadow), never part of the digit beside it. A digit's own part that runs off the picture meets one edge."""
        rows, cols = box
        height, width = self.labels.shape
        return (rows.start == 0 or rows.stop == height) and (cols.start == 0 or cols.stop == width)

    def digit_mask(self):
        """The one digit of the image: its heaviest stroke, preferring one clear of the image edge (photo corners,
        shadows and table edges touch it), with its other parts (a 5's bar, a 4's second stroke) that lie within
        about its own size of it; specks and far-away marks are dropped. Raises NoDigitError for a mere speck."""
        mass, slices, edge = self.mass[1:], self.slices, self.edge
        main = int(np.argmax(mass * np.where(edge, 0.3, 1.0)))
        rs, cs = slices[main]
        box = (rs.start, rs.stop, cs.start, cs.stop)
        photo = self.noise > CLEAN_NOISE
        parts = [i for i, s in enumerate(slices)
                 if s is not None and mass[i] > 0 and mass[i] >= (EDGE_PART if edge[i] else 0.02) * mass[main]
                 and not (photo and i != main and self._in_a_corner(s))]
        # On a clean canvas the digit may be in pieces (a fine pen's line, broken where it is thinnest): the parts
        # near the main stroke extend the digit, and parts near those are taken in turn (a few rounds).
        for _ in range(1 if photo else 4):
            reach = max(box[1] - box[0], box[3] - box[2])
            near = (box[0] - reach, box[1] + reach, box[2] - reach, box[3] + reach)
            keep_ids = [i + 1 for i in parts if slices[i][0].start < near[1] and slices[i][0].stop > near[0]
                        and slices[i][1].start < near[3] and slices[i][1].stop > near[2]]
            grown = (min(slices[i - 1][0].start for i in keep_ids), max(slices[i - 1][0].stop for i in keep_ids),
                     min(slices[i - 1][1].start for i in keep_ids), max(slices[i - 1][1].stop for i in keep_ids))
            if grown == box:
                break
            box = grown
        keep = self.mask(keep_ids)
        if not self.is_stroke(keep):
            raise NoDigitError(NO_DIGIT_MESSAGE)
        return keep

    def mask(self, ids):
        """Coarse bool mask of the strokes numbered `ids`."""
        wanted = np.zeros(len(self.mass), bool)
        wanted[list(ids)] = True
        return wanted[self.labels]

    def is_stroke(self, keep) -> bool:
        """A digit is a stroke, not a speck: a few stray pixels on a blank page are not one."""
        rows, cols = np.nonzero(keep.any(axis=1))[0], np.nonzero(keep.any(axis=0))[0]
        if rows.size == 0:
            return False
        long_side = max(np.ptp(rows), np.ptp(cols)) + 1
        return long_side >= max(2, 0.02 * max(self.ink.shape)) and keep.sum() >= 3

    def box(self, keep):
        """The full-resolution box (x0, y0, x1, y1) of a coarse mask's ink, x1 and y1 exclusive."""
        rows, cols = np.nonzero(keep.any(axis=1))[0], np.nonzero(keep.any(axis=0))[0]
        f = self.factor
        return (int(cols[0] * f), int(rows[0] * f), min(int((cols[-1] + 1) * f), self.size[0]),
                min(int((rows[-1] + 1) * f), self.size[1]))

    def to_mnist(self, keep):
        """The strokes of coarse mask `keep`, cut from the full-resolution image -> (28, 28) float32, MNIST form."""
        page, factor, paper, threshold, noise = self.page, self.factor, self.paper, self.threshold, self.noise
        # Crop the digit (with a 1-coarse-pixel margin) from the full-resolution image.
        rows, cols = np.nonzero(keep.any(axis=1))[0], np.nonzero(keep.any(axis=0))[0]
        top, left = max(rows[0] - 1, 0), max(cols[0] - 1, 0)
        bottom, right = min(rows[-1] + 2, keep.shape[0]), min(cols[-1] + 2, keep.shape[1])
        coarse_box = (left, top, right, bottom)
        box = (left * factor, top * factor, right * factor, bottom * factor)
        fine_factor = max(1, min(-(-max(box[2] - box[0], box[3] - box[1]) // FINE_SIDE),  # ceil
                                 box[2] - box[0], box[3] - box[1]))
        box = (box[0], box[1], box[0] + (box[2] - box[0]) // fine_factor * fine_factor,
               box[1] + (box[3] - box[1]) // fine_factor * fine_factor)
        fine = page.sample(fine_factor, box)
        size = (fine.shape[1], fine.shape[0])
        fine_paper = paper[0, 0] if paper.min() == paper.max() else _resize_float(paper, size, coarse_box)
        fine_ink = fine_paper - fine if self.dark_ink else fine - fine_paper
        near = _grow(keep[top:bottom, left:right])
        fine_ink *= _resize_float(near.astype(np.float32), size, None) > 0.0

        # Contrast: paper (and noise below half the threshold) -> 0, stroke cores -> 1.
        low = (LOW_FRACTION if noise > CLEAN_NOISE else LOW_FRACTION_CLEAN) * threshold
        strokes = fine_ink[fine_ink > threshold]
        high = float(_percentiles(strokes, (90,))[0]) if strokes.size else threshold * 2
        digit = np.clip((fine_ink - low) / max(high - low, 1e-6), 0.0, 1.0)
        placed = place_digit(_normalise_width(digit))
        # Every MNIST digit reaches full strength, and so must ours: a fine pen on a large canvas, too thin at the
        # fine scale to be widened, came out at a third of it (a thin-pen 5 read as a 1 at 0.59, as a 5 once bright).
        peak = float(placed.max())
        return placed / peak if 0.0 < peak < 1.0 else placed


def _grow(mask):
    """ndimage.binary_dilation(mask) (4-neighbourhood, one step) as four shifted ORs: same result, ~10x faster."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _dilate(values, footprint):
    """ndimage.grey_dilation(values, footprint=footprint) for a symmetric footprint, as shifted maxima.

    Same result (a symmetric footprint's reflected border pixels lie inside it, so the border adds nothing), and
    5-10x faster on the fine crop (~80x80), where scipy's per-call overhead is the whole cost.
    """
    out = values.copy()
    h, w = values.shape
    r, c = footprint.shape[0] // 2, footprint.shape[1] // 2
    for dy, dx in zip(*np.nonzero(footprint)):
        dy, dx = int(dy) - r, int(dx) - c
        if dy == dx == 0:
            continue
        target = out[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        np.maximum(target, values[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)], out=target)
    return out


def _normalise_width(digit):
    """Bring thin and bold strokes to MNIST's range of widths: widen fine pens, thin felt markers.

    MNIST strokes are about 2 px wide in the 20 px box (median 2.1, 25th percentile 1.8); a
    1 px pen line scaled into that box looks like nothing the model has seen, and neither does a
    marker stroke three times too bold (its loops nearly closed). The width is measured with a
    distance transform at the fine scale; widths in MNIST's usual range are left alone. Bold strokes
    are eroded (the distance transform, shifted): that keeps the outline's shape and reopens
    narrowed loops.
    """
    strokes = digit > 0.5
    rows, cols = np.nonzero(strokes.any(axis=1))[0], np.nonzero(strokes.any(axis=0))[0]
    if rows.size == 0:
        return digit
    long_side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if long_side < 2 * DIGIT_BOX:  # too coarse to measure or widen by a fraction of a pixel
        return digit
    distance = ndimage.distance_transform_edt(strokes)
    ridge = strokes & (distance >= _dilate(distance, _SQUARE3))
    width = (2 * float(distance[ridge].mean()) - 1) * DIGIT_BOX / long_side  # in 20-px-box pixels
    if width > MAX_STROKE:
        radius = (width - BOLD_TARGET) / 2 * long_side / DIGIT_BOX  # in fine pixels
        return np.clip(distance - radius, 0.0, 1.0).astype(np.float32)
    if width >= MIN_STROKE:
        return digit
    radius = (TARGET_STROKE - width) / 2 * long_side / DIGIT_BOX  # in fine pixels
    if radius < 0.5:
        return digit
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return _dilate(digit, (yy**2 + xx**2) <= radius**2 + 0.25)


class _Page:
    """The image as one gray channel in which ink and paper differ, sampled at any size.

    Transparent images are composited onto a backdrop that contrasts with the ink: an opaque page
    with transparent margins gets the page colour, a transparent canvas the shade opposite to its
    ink. The backdrop is judged on a 64x64 grid of samples (exact pixels, no averaging), and the
    composite is one full-resolution paste: 2-3 ms less than premultiplying at full resolution.
    """

    def __init__(self, image):
        self.gray = image if image.mode == "L" else image.convert("L")
        if image.mode == "RGBA":
            # A 32x32 grid of samples finds any transparent background (cheap: no full pass).
            if image.resize((32, 32), Image.Resampling.NEAREST).getextrema()[3][0] < 255:
                alpha = image.getchannel("A")
                backdrop = Image.new("L", image.size, round(255 * _backdrop(image, alpha)))
                backdrop.paste(self.gray, mask=alpha)
                self.gray = backdrop

    def sample(self, factor, box):
        """Float32 values in [0, 1] of `box`, averaged over factor x factor blocks (antialiased)."""
        values = np.asarray(self.gray.reduce(factor, box=box), dtype=np.float32)
        values *= 1.0 / 255.0
        return values


def _backdrop(image, alpha):
    """The shade in [0, 1] to put behind a transparent image, judged on a 64x64 grid of its pixels."""
    grid = image.resize((64, 64), Image.Resampling.NEAREST)
    gray = np.asarray(grid.convert("L"), dtype=np.float32)
    a = np.asarray(grid.getchannel("A"), dtype=np.float32) / 255.0
    if (a > 0.5).mean() > 0.5:  # mostly opaque: a page with transparent margins; its colour
        return float(np.median(gray[a > 0.5])) / 255.0
    if a.sum() == 0:  # a fine line the grid missed: measure the ink itself, in its bounding box
        box = alpha.getbbox()
        if box is None:  # nothing drawn at all
            return 1.0
        gray = np.asarray(image.crop(box).convert("L"), dtype=np.float32)
        a = np.asarray(alpha.crop(box), dtype=np.float32) / 255.0
    shade = float((gray * a).sum() / a.sum())  # a transparent canvas: the opaque part is the ink
    return 1.0 if shade < 128 else 0.0


def _blocks(values, block):
    """View `values` (cropped to whole blocks) as (rows, cols, block*block) pixel groups."""
    nr, nc = max(1, values.shape[0] // block), max(1, values.shape[1] // block)
    br, bc = min(block, values.shape[0]), min(block, values.shape[1])
    cut = values[: nr * br, : nc * bc]
    return cut.reshape(nr, br, nc, bc).transpose(0, 2, 1, 3).reshape(nr, nc, br * bc)


def _block_size(values):
    return max(4, max(values.shape) // 10)


def _paper(values):
    """Polarity, paper brightness at each pixel and the paper's noise, from block percentiles.

    Ink is the minority: its tail of the histogram reaches further from the median (the paper)
    than the other tail (noise, shading) does. The paper level is a paper-side
    percentile per block, or the median of its 3x3 block neighbourhood when that is more
    paper-like (a block filled by a thick stroke), interpolated smoothly: this follows uneven
    lighting, vignetting and shadows. Returns (dark_ink, paper, noise).
    """
    darkest, median, brightest = _percentiles(values.ravel(), (0.05, 50, 99.95))
    dark_ink = median - darkest >= brightest - median
    heavy = _heavy_ink(values, darkest, brightest)
    if heavy is not None:
        return heavy
    low, mid, high = _percentiles(_blocks(values, _block_size(values)), (3, 50, 97))
    level = high if dark_ink else low
    noise = float(_percentiles(np.abs(level - mid).ravel(), (50,))[0]) / 1.88  # paper-side half-width of a normal
    around = ndimage.median_filter(level, size=3, mode="nearest")
    level = np.maximum(level, around) if dark_ink else np.minimum(level, around)
    # A bold stroke wider than a block (a felt marker) leaves a patch of blocks without any paper, too big for
    # the 3x3 median: the median of a wider neighbourhood still sees mostly paper. Only blocks that differ from it
    # as much as ink does take it (shading, vignettes and noise differ less; a ramp's median is the ramp).
    filled = ndimage.median_filter(level, size=PAPER_FILL, mode="nearest")
    ink_blocks = (filled - level if dark_ink else level - filled) > max(MIN_CONTRAST, MIN_SEPARATION * noise)
    if ink_blocks.any():
        level = np.where(ink_blocks, filled, level)
    return dark_ink, _smooth_blocks(level, values.shape), noise


def _heavy_ink(values, darkest, brightest):
    """(dark_ink, paper, noise) for heavy ink (a bold digit cropped tight), else None.

    Heavy ink breaks both rules `_paper` relies on: the ink is the majority (so the median is ink,
    not paper) and it fills whole blocks (so block percentiles find no paper). What still holds:
    the picture has two clear shades, and the paper is the flat one that holds most of the border.
    One paper level is used (such crops are small; no lighting to follow).
    """
    contrast = brightest - darkest
    if contrast < MIN_CONTRAST:
        return None
    dark = values < darkest + contrast / 2
    dark_share = float(dark.mean())
    border = np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])
    border_dark = border < darkest + contrast / 2
    for dark_ink, ink_share, paper_border in ((True, dark_share, border[~border_dark]),
                                              (False, 1 - dark_share, border[border_dark])):
        if ink_share <= HEAVY_INK or paper_border.size < 0.6 * border.size:
            continue
        paper_values = values[~dark] if dark_ink else values[dark]
        ink_values = values[dark] if dark_ink else values[~dark]
        level = float(np.median(paper_values))
        two_tone = abs(float(np.median(ink_values)) - level) > 0.6 * contrast  # not a noisy blank page
        # Flat: the middle half of the paper's border pixels within an eighth of the contrast (a Gaussian noise as
        # wide as a 10-90% spread of a quarter). Not the 10-90% spread itself: where a tight crop's ink meets the
        # border, the soft pixels at its edge can be a tenth or more of the border (45 of the robustness
        # benchmark's 3,000 heavy-ink digits failed that test; 30 of them were then read wrong).
        low, high = _percentiles(paper_border, (25, 75))
        flat = float(high - low) < 0.13 * contrast
        if two_tone and flat:
            noise = float(np.median(np.abs(paper_values - level))) / 0.6745
            return dark_ink, np.full(values.shape, level, np.float32), noise
    return None


def _percentiles(values, qs):
    """np.percentile(values, qs, axis=-1) (its default linear method, same results), several times faster.

    Why: np.percentile's generic machinery costs ~50-100 us per call, as much as the rest of a small image's
    preprocessing step. A full sort beats a partial one here: NumPy sorts float32 with SIMD (x86-simd-sort),
    10x faster than np.partition at several positions (10,000 values: 11 us against 115 us on the Intel Xeon).
    """
    n = values.shape[-1]
    positions = np.asarray(qs, dtype=np.float64) / 100.0 * (n - 1)
    below = np.floor(positions).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    parted = np.sort(values, axis=-1)
    a, b = np.moveaxis(parted[..., below], -1, 0), np.moveaxis(parted[..., above], -1, 0)
    t = (positions - below).reshape((-1,) + (1,) * (a.ndim - 1))
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)  # numpy's _lerp, term for term


def _smooth_blocks(level, shape):
    if level.min() == level.max():  # one paper level (a digital canvas): what the resize would give, 0.2 ms sooner
        return np.full(shape, float(level.ravel()[0]), dtype=np.float32)
    return _resize_float(level.astype(np.float32), (shape[1], shape[0]), None)


def _resize_float(values, size, box):
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR, box=box), dtype=np.float32)


def _components(ink, noise, contrast):
    """Otsu threshold + connected components -> (threshold, labels, mass, slices); see `InkMap`.

    `contrast`: the strongest ink's difference from the paper at full resolution (`InkMap._contrast`).
    Raises NoDigitError when nothing stands out from the paper's noise.
    """
    top = float(ink.max())
    if contrast < MIN_CONTRAST or top < MIN_SEPARATION * noise:
        raise NoDigitError(NO_DIGIT_MESSAGE)
    # Otsu alone fails when the ink is a tiny fraction of the image (it splits paper noise or
    # leftover shading instead); never go below a third of the strongest ink.
    threshold = max(_otsu(ink, top), top / 3)
    strong = ink > threshold
    # Hysteresis on clean canvases: a stroke is the fainter pixels connected to strong ones (the thin or
    # blurry parts of one line are one component, not fragments).
    if noise > CLEAN_NOISE:  # a photo: faint lines and shading may touch the digit; a plain threshold
        weak, joined = strong, strong
    else:  # a clean canvas: whatever faint ink touches a stroke is part of it, one-pixel gaps bridged
        weak = ink > WEAK_FRACTION_CLEAN * threshold
        joined = _grow(weak)
    labels, count = ndimage.label(joined, structure=np.ones((3, 3), bool))
    labels *= weak
    has_strong = np.zeros(count + 1, bool)
    has_strong[labels[strong]] = True
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count + 1) * has_strong
    mass[0] = 0.0
    slices = ndimage.find_objects(labels, max_label=count)
    return threshold, labels, mass, slices


def _otsu(values, top):
    bins = 128
    hist = np.bincount(np.minimum((values * (bins / top)).astype(np.int32), bins - 1).ravel(), minlength=bins)
    hist = hist.astype(np.float64)
    edges = np.linspace(0.0, top, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    total = weight[-1]
    cum_mean = np.cumsum(hist * centers)
    between = (cum_mean[-1] * weight / total - cum_mean) ** 2 / np.maximum(weight * (total - weight), 1e-12)
    return float(edges[int(np.argmax(between[:-1])) + 1])


def place_digit(digit):
    """Crop to the ink, scale the longer side to 20 px (antialiased), center of mass -> (14, 14)."""
    rows, cols = np.nonzero((digit > 0.1).any(axis=1))[0], np.nonzero((digit > 0.1).any(axis=0))[0]
    if rows.size == 0:
        raise NoDigitError(NO_DIGIT_MESSAGE)
    digit = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = digit.shape
    scale = DIGIT_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.clip(_resize_float(digit, size, None), 0.0, 1.0)
    peak = float(small.max())
    if peak <= 0:
        raise NoDigitError(NO_DIGIT_MESSAGE)
    small /= max(peak, 0.5)  # thin strokes blur to grey when shrunk; MNIST cores are saturated
    sh, sw = small.shape
    mass = small.sum()
    com_r = float((small.sum(axis=1) * np.arange(sh)).sum() / mass)
    com_c = float((small.sum(axis=0) * np.arange(sw)).sum() / mass)
    top = int(np.clip(round(CENTER - com_r), 0, CANVAS - sh))
    left = int(np.clip(round(CENTER - com_c), 0, CANVAS - sw))
    out = np.zeros((CANVAS, CANVAS), np.float32)
    out[top : top + sh, left : left + sw] = small
    return out


# --------------------------------------------------------------------------- batches


def to_model_batch(images) -> np.ndarray:
    """Many images -> the model's float32 (N, 28, 28, 1) input in [0, 1]; the same values as `to_mnist`
    one by one.

    Fast path: a uint8 array (N, 28, 28) or (N, 28, 28, 1) (MNIST's own format) is checked and rescaled
    in one vectorised step; its items that are not in MNIST form go through `to_mnist`. Anything else
    (other dtypes, a list of paths, PIL images, arrays of any size, a single image) goes through
    `to_mnist` one by one. Raises ImageInputError / NoDigitError naming the bad image ("Image 3: ...").
    """
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim in (3, 4) \
            and images.shape[1:3] == (CANVAS, CANVAS) and (images.ndim == 3 or images.shape[3] == 1):
        return _mnist_batch(images.reshape(-1, CANVAS, CANVAS))
    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.shape[1:3] == (CANVAS, CANVAS) \
            and (images.ndim == 3 or images.shape[3] == 1):
        images = list(images)  # a batch of 28x28 images in another dtype
    elif isinstance(images, (np.ndarray, Image.Image, str, Path, bytes, bytearray, dict)) or hasattr(images, "read"):
        images = [images]  # a single image
    out = np.empty((len(images), CANVAS, CANVAS, 1), np.float32)
    for i, image in enumerate(images):
        with _numbered(i, len(images)):
            out[i, :, :, 0] = to_mnist(image)
    return out


@contextmanager
def _numbered(index, count):
    """Say which image of a batch was bad (same exception type, so NoDigitError stays one)."""
    try:
        yield
    except ImageInputError as error:
        if count == 1:
            raise
        raise type(error)(f"Image {index}: {error}") from None


_SQUARE3 = np.ones((3, 3), bool)
_BORDER = np.zeros((CANVAS, CANVAS), bool)
_BORDER[[0, -1], :] = _BORDER[:, [0, -1]] = True


def _mnist_batch(pixels):
    """uint8 (N, 28, 28): MNIST-form items rescaled at once, the others through `to_mnist`."""
    out = _scale(pixels)
    for i in np.nonzero(~is_mnist_form(out))[0]:
        with _numbered(i, len(out)):
            out[i] = to_mnist(pixels[i])
    return out[..., np.newaxis]
