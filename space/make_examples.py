"""Regenerate space/examples/: the app's example gallery, every digit in several styles people actually send.

Run from the project root: `python space/make_examples.py`. Deterministic, so the committed files can be rebuilt
and reviewed. File names start with the true digit (tests rely on it). Styles: clean MNIST (enlarged), a sketch
like the app's canvas (black marker on white), strokes on a transparent canvas, photo-like JPEGs (pen on paper,
uneven light, noise, slight rotation) and chalk on a board; two drawings are strokes, not MNIST digits.

Which MNIST digits: no hand-picked indices and no model in the loop. The k-th example of a digit (in the
order listed in `main`) is the MNIST test image of that digit with the k-th smallest distance to the mean
of all the test images of that digit: its most typical handwriting, as a gallery should show. The tests
hold the examples to a stated threshold (tests/test_examples.py), not to "all right".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hub.data import load_mnist

OUT = Path(__file__).resolve().parent / "examples"


def most_typical(images: np.ndarray, labels: np.ndarray, digit: int, rank: int) -> int:
    """Index of the test image of `digit` with the `rank`-th smallest distance (0 = nearest) to the digit's mean image."""
    indices = np.flatnonzero(labels == digit)
    pixels = images[indices].reshape(len(indices), -1).astype(np.float32)
    distances = np.linalg.norm(pixels - pixels.mean(axis=0), axis=1)
    return int(indices[np.argsort(distances, kind="stable")[rank]])


def clean(x: np.ndarray) -> Image.Image:
    """An MNIST digit as it is, enlarged 4x without smoothing so it is visible in the gallery."""
    return Image.fromarray(x).resize((112, 112), Image.Resampling.NEAREST)


def ink_mask(x: np.ndarray, size: int) -> np.ndarray:
    """The MNIST digit as a smooth ink coverage map in [0, 1], `size` px square."""
    big = Image.fromarray(x).resize((size, size), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1))
    return np.clip(np.asarray(big, np.float32) / 200.0, 0, 1)


def sketch(x: np.ndarray, canvas=(400, 300), size=200, at=(150, 60)) -> Image.Image:
    """Black marker on a white canvas, off-centre, like the app's sketchpad (or a paint program)."""
    page = np.full(canvas[::-1], 255, np.float32)
    ink = (ink_mask(x, size) > 0.35).astype(np.float32)
    page[at[1]:at[1] + size, at[0]:at[0] + size] *= 1 - ink
    return Image.fromarray(page.astype(np.uint8))


def drawn(strokes, size=280, width=22) -> Image.Image:
    """Strokes drawn with round ends, as a mouse user would, on the app's 280 px canvas."""
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    for line in strokes:
        draw.line(line, fill=0, width=width, joint="curve")
        for x, y in (line[0], line[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
    return image


def transparent(x: np.ndarray, size=240, digit_size=130, at=(20, 90)) -> Image.Image:
    """Dark-grey strokes on a transparent canvas (many drawing apps and canvas exports look like this)."""
    alpha = np.zeros((size, size), np.float32)
    alpha[at[1]:at[1] + digit_size, at[0]:at[0] + digit_size] = ink_mask(x, digit_size)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[..., 3] = (alpha * 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def photo(x: np.ndarray, seed: int, ink=(30, 45, 120), angle=8.0, size=170, canvas=(360, 270)) -> Image.Image:
    """Pen on paper photographed with a phone: warm paper, uneven light, sensor noise, tilt, JPEG later."""
    rng = np.random.default_rng(seed)
    margin = 40  # paper beyond the frame, so the tilt leaves no border
    w, h = canvas[0] + 2 * margin, canvas[1] + 2 * margin
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.72 + 0.33 * (xx / w) * (1 - 0.4 * yy / h)  # brighter towards one corner
    paper = np.array([236, 229, 212], np.float32) * light[..., None]
    mask = np.zeros((h, w), np.float32)
    top, left = (h - size) // 2 + 10, (w - size) // 2 - 25
    mask[top:top + size, left:left + size] = ink_mask(x, size) * 0.9
    img = paper * (1 - mask[..., None]) + np.array(ink, np.float32) * mask[..., None]
    img += rng.normal(0, 6, img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).rotate(angle, resample=Image.Resampling.BICUBIC)
    out = out.crop((margin, margin, margin + canvas[0], margin + canvas[1]))
    return out.filter(ImageFilter.GaussianBlur(0.6))


def chalk(x: np.ndarray, seed: int, size=150, canvas=(260, 220)) -> Image.Image:
    """Light chalk on a dark green board: light ink on a dark background."""
    rng = np.random.default_rng(seed)
    w, h = canvas
    board = np.empty((h, w, 3), np.float32)
    board[:] = (38, 62, 48)
    board += rng.normal(0, 3, (h, w, 1))
    mask = np.zeros((h, w), np.float32)
    top, left = (h - size) // 2, (w - size) // 2
    mask[top:top + size, left:left + size] = ink_mask(x, size) * rng.uniform(0.7, 1.0, (size, size))
    img = board * (1 - mask[..., None]) + np.array([232, 236, 228], np.float32) * mask[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def main(out: Path = OUT) -> None:
    data = load_mnist()
    x, y = data.x_test, data.y_test
    used = {digit: 0 for digit in range(10)}

    def pick(digit: int) -> np.ndarray:
        """The next most typical test image of `digit` (each example of a digit gets its own)."""
        used[digit] += 1
        return x[most_typical(x, y, digit, used[digit] - 1)]

    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.png")) + list(out.glob("*.jpg")):
        old.unlink()
    images = {
        "0_mnist.png": clean(pick(0)),
        "1_mnist.png": clean(pick(1)),
        "2_mnist.png": clean(pick(2)),
        "3_mnist.png": clean(pick(3)),
        "4_mnist.png": clean(pick(4)),
        "1_drawing.png": drawn([[(120, 80), (150, 50), (150, 235)]]),
        "7_drawing.png": drawn([[(75, 60), (205, 60), (125, 235)]]),
        "5_sketch.png": sketch(pick(5)),
        "6_sketch.png": sketch(pick(6), canvas=(300, 300), size=150, at=(30, 120)),
        "0_transparent.png": transparent(pick(0)),
        "3_photo.jpg": photo(pick(3), seed=3),
        "7_photo.jpg": photo(pick(7), seed=7, ink=(25, 25, 30), angle=-6),
        "8_photo.jpg": photo(pick(8), seed=8),
        "9_photo.jpg": photo(pick(9), seed=9, ink=(20, 20, 20), angle=5),
        "9_chalk.png": chalk(pick(9), seed=19),
    }
    for name, image in images.items():
        options = {"quality": 72} if name.endswith(".jpg") else {"optimize": True}
        image.save(out / name, **options)
    print(f"wrote {len(images)} examples to {out}")


if __name__ == "__main__":
    main()
