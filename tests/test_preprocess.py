"""hub.preprocess: real-world images -> MNIST form, and clear errors for bad input."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hub import preprocess as pp
from hub.preprocess import ImageInputError, NoDigitError, load_image, to_mnist, to_model_batch

SEVEN = [(300, 220), (520, 220), (380, 620)]  # a "7" on an 800x800 canvas


def draw(size=(800, 800), points=SEVEN, width=32, ink="black", paper="white", mode="RGBA"):
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line(points, fill=ink, width=width, joint="curve")
    return image


def png_bytes(image, **params):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


def photo_bytes(seed=0):
    """Dark pen on off-white paper, uneven lighting, noise, JPEG."""
    rng = np.random.default_rng(seed)
    mask = np.asarray(draw((640, 480), [(220, 120), (400, 120), (290, 380)], 14, 255, 0, "L"), np.float32) / 255
    yy, xx = np.mgrid[0:480, 0:640]
    light = 1.0 + 0.35 * (xx - 320) / 640 - 0.2 * ((xx - 320) ** 2 + (yy - 240) ** 2) / 320**2
    rgb = (np.array([225, 220, 205]) * (1 - 0.8 * mask[..., None]) + 30 * mask[..., None]) * light[..., None]
    rgb += rng.normal(0, 6, rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def center_of_mass(x):
    rows, cols = np.indices(x.shape)
    return (rows * x).sum() / x.sum(), (cols * x).sum() / x.sum()


def ink_box(x, level=0.1):
    rows, cols = np.nonzero((x > level).any(axis=1))[0], np.nonzero((x > level).any(axis=0))[0]
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def check_mnist_form(x):
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9  # stroke cores saturate, like MNIST
    assert (x == 0).mean() > 0.6  # black background, white digit
    r, c = center_of_mass(x)
    h, w = ink_box(x, 0.0)
    if h < 20 and w < 20:  # (a lopsided digit may be pushed against the edge, as in MNIST)
        assert abs(r - 14) <= 0.75 and abs(c - 14) <= 0.75
    else:
        assert abs(r - 14) <= 2 and abs(c - 14) <= 2
    assert max(ink_box(x, 0.0)) in (19, 20, 21)  # the longer side fills the 20 px box


# ---------------------------------------------------------------- styles


STYLES = {
    "gradio_sketchpad_rgba_white": lambda: draw(),
    "gradio_sketchpad_numpy": lambda: np.asarray(draw()),
    "gradio_dict_value": lambda: {"background": None, "layers": [], "composite": np.asarray(draw())},
    "transparent_black_ink": lambda: draw(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0)),
    "transparent_white_ink": lambda: draw(ink=(255, 255, 255, 255), paper=(255, 255, 255, 0)),
    "transparent_blue_ink": lambda: draw(ink=(30, 60, 220, 255), paper=(0, 0, 0, 0)),
    "white_on_black_rgb": lambda: draw(ink="white", paper="black", mode="RGB"),
    "grayscale_png_bytes": lambda: png_bytes(draw(mode="L", ink=0, paper=255)),
    "off_center_small": lambda: draw(points=[(640, 660), (740, 660), (670, 780)], width=8),
    "wide_canvas": lambda: draw((1200, 300), [(900, 40), (1000, 40), (930, 260)], 12),
    "photo_jpeg": lambda: photo_bytes(),
    "palette_png": lambda: png_bytes(draw(mode="RGB").convert("P")),
    "la_png": lambda: png_bytes(draw(mode="LA", ink=(0, 255), paper=(0, 0))),
    "cmyk_jpeg": lambda: (lambda b: (draw(mode="RGB").convert("CMYK").save(b, "JPEG"), b.getvalue())[1])(io.BytesIO()),
}


@pytest.fixture(scope="module")
def reference():
    return to_mnist(draw())


@pytest.mark.parametrize("style", STYLES)
def test_each_style_gives_the_same_mnist_digit(style, reference):
    x = to_mnist(STYLES[style]())
    check_mnist_form(x)
    if style not in ("off_center_small", "wide_canvas", "photo_jpeg"):  # same strokes, same result
        assert np.abs(x - reference).mean() < 0.02
    else:  # a different pen: the same shape, roughly
        assert np.abs(x - reference).mean() < 0.12


def test_paths_files_and_pil_images_are_accepted(tmp_path, reference):
    path = tmp_path / "seven.png"
    draw().save(path)
    for source in (path, str(path), open(path, "rb"), Image.open(path), path.read_bytes()):
        assert np.abs(to_mnist(source) - reference).max() < 1e-6


def test_mnist_digits_come_back_almost_unchanged_in_either_polarity():
    from hub.data import load_mnist

    x = load_mnist().x_test[:200]
    for digits in (x, 255 - x):
        out = np.stack([to_mnist(d) for d in digits])
        assert np.abs(out - x / 255.0).mean() < 0.05


def test_aspect_ratio_is_kept():
    tall = to_mnist(draw(points=[(400, 100), (400, 700)], width=30))
    wide = to_mnist(draw(points=[(100, 400), (700, 400)], width=30))
    h, w = ink_box(tall)
    assert h >= 19 and w <= 5
    h, w = ink_box(wide)
    assert w >= 19 and h <= 5


def test_thin_strokes_are_widened_to_mnist_width():
    thin = to_mnist(draw(width=4))  # 0.2 px in the 20 px box if only scaled
    assert (thin > 0.5).sum() >= 0.6 * (to_mnist(draw(width=40)) > 0.5).sum()


def test_uneven_lighting_and_noise_leave_a_clean_background():
    x = to_mnist(photo_bytes(seed=3))
    check_mnist_form(x)
    assert (x > 0.2).sum() < 130  # strokes only, no shading or speckles


def test_exif_rotation_is_applied():
    stored = draw((600, 300), [(50, 150), (550, 150)], 30, mode="RGB")  # a horizontal bar, stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the upright image is a vertical bar
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif)
    image = load_image(buffer.getvalue())
    assert image.size == (300, 600)
    h, w = ink_box(to_mnist(buffer.getvalue()))
    assert h >= 19 and w <= 5


def test_sixteen_bit_grayscale_png_is_scaled_not_clipped(reference):
    gray16 = (np.asarray(draw(mode="L", ink=0, paper=255)).astype(np.uint16) * 257)
    data = png_bytes(Image.fromarray(gray16))
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    assert load_image(data).mode == "L"
    assert np.abs(to_mnist(data) - reference).mean() < 0.02


def test_animated_gif_uses_the_first_frame(reference):
    frames = [draw(mode="RGB").convert("P"), draw(mode="RGB", points=[(400, 100), (400, 700)]).convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2
    assert np.abs(to_mnist(buffer.getvalue()) - reference).mean() < 0.02


def test_numpy_dtypes_and_shapes(reference):
    gray = np.asarray(draw(mode="L"))
    for array in (gray, gray[..., None], gray.astype(np.float32) / 255, gray.astype(np.float64), gray > 127,
                  gray.astype(np.uint16) * 257, np.asarray(draw(mode="RGB"))):
        assert np.abs(to_mnist(array) - reference).mean() < 0.03


# ---------------------------------------------------------------- no digit


@pytest.mark.parametrize(
    "blank",
    [
        lambda: draw(width=0, points=[(0, 0), (0, 0)]),  # Gradio's empty Sketchpad: opaque white
        lambda: Image.new("RGBA", (800, 800), (0, 0, 0, 0)),  # empty transparent canvas
        lambda: Image.new("RGB", (640, 480), "black"),
        lambda: np.full((28, 28), 255, np.uint8),
    ],
)
def test_empty_canvas_asks_for_a_digit(blank):
    with pytest.raises(NoDigitError, match="draw a digit"):
        to_mnist(blank())


def test_blank_photo_with_noise_and_shading_asks_for_a_digit():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    paper = 215 * (1 + 0.3 * (xx - 320) / 640) + rng.normal(0, 6, (480, 640))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=60)
    with pytest.raises(NoDigitError):
        to_mnist(buffer.getvalue())


def test_no_digit_is_an_image_input_error():
    assert issubclass(NoDigitError, ImageInputError) and issubclass(ImageInputError, ValueError)


# ---------------------------------------------------------------- bad input


def bomb_png(width=30000, height=30000):
    """A tiny PNG whose header claims a huge image (what a decompression bomb looks like)."""
    data = bytearray(png_bytes(Image.new("L", (8, 8))))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize(
    "source, message",
    [
        (b"this is not an image, it is text", "not an image"),
        (png_bytes(draw())[:3000], "truncated or corrupt"),
        (b"", "not an image"),
        (np.zeros((0, 0), np.uint8), "too small"),
        (png_bytes(Image.new("L", (1, 500), 255)), "too small"),
        (np.zeros((1, 300, 3), np.uint8), "too small"),
        (bomb_png(), "too large"),
        (bomb_png(9000, 9000), "too large"),  # below Pillow's own limit, above ours
        (12345, "Cannot read an image"),
        (np.zeros((28, 28, 5)), "numpy image"),
        (np.array([["a", "b"]] * 10), "numpy image"),
        (None, "No image"),
    ],
    ids=["text", "truncated_png", "empty_bytes", "zero_size", "1xN_png", "1xN_array", "bomb_30000",
         "bomb_9000", "int", "five_channels", "strings", "none"],
)
def test_bad_input_raises_a_clear_error(source, message):
    with pytest.raises(ImageInputError, match=message) as info:
        to_mnist(source)
    assert not isinstance(info.value, NoDigitError)


def test_missing_file(tmp_path):
    with pytest.raises(ImageInputError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_bomb_is_refused_from_the_header_without_decoding(monkeypatch):
    bombs = [bomb_png(20000, 20000), bomb_png(9000, 9000)]
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a bomb"))
    for bomb in bombs:
        with pytest.raises(ImageInputError, match="too large"):
            load_image(bomb)


# ---------------------------------------------------------------- batches


def test_mnist_to_input():
    x = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    out = pp.mnist_to_input(x.astype(np.uint8))
    assert out.shape == (2, 28, 28, 1) and out.dtype == np.float32
    assert np.allclose(out[..., 0], x / 255.0)


def test_model_batch_of_mnist_arrays_is_a_plain_rescale(monkeypatch):
    from hub.data import load_mnist

    x = load_mnist().x_test[:1000]
    monkeypatch.setattr(pp, "to_mnist", lambda image: pytest.fail("slow path taken"))
    for batch in (x, x[..., None]):
        out = to_model_batch(batch)
        assert out.shape == (1000, 28, 28, 1) and out.dtype == np.float32
        np.testing.assert_allclose(out[..., 0], x / 255.0, atol=1e-7)
    np.testing.assert_allclose(to_model_batch(x.astype(np.float32))[..., 0], x / 255.0, atol=1e-6)  # 0-255 floats
    np.testing.assert_allclose(to_model_batch(x / 255.0)[..., 0], x / 255.0, atol=1e-6)  # 0-1 floats


def test_model_batch_fixes_light_28x28_items_and_takes_any_images(tmp_path, reference):
    from hub.data import load_mnist

    x = load_mnist().x_test[:4].copy()
    x[1] = 255 - x[1]  # black on white: not MNIST form
    out = to_model_batch(x)
    assert np.abs(out[1, ..., 0] - x[1] / 255.0).mean() > 0.3  # was inverted...
    assert np.abs(out[1, ..., 0] - (255 - x[1]) / 255.0).mean() < 0.05  # ...back to MNIST form
    path = tmp_path / "seven.png"
    draw().save(path)
    mixed = to_model_batch([path, draw(), np.asarray(draw()), x[0]])
    assert mixed.shape == (4, 28, 28, 1) and mixed.dtype == np.float32
    for i in range(3):
        assert np.abs(mixed[i, ..., 0] - reference).max() < 1e-6
    assert to_model_batch([]).shape == (0, 28, 28, 1)
    assert to_model_batch(draw()).shape == (1, 28, 28, 1)


def test_large_jpeg_photo_is_accepted():
    big = draw((4000, 3000), [(1500, 800), (2500, 800), (1900, 2400)], 120, mode="RGB")
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=85)
    check_mnist_form(to_mnist(buffer.getvalue()))


def test_model_batch_names_the_bad_image():
    with pytest.raises(NoDigitError, match="Image 1: No digit"):
        to_model_batch([draw(), Image.new("RGB", (100, 100), "white")])
    with pytest.raises(ImageInputError, match="Image 0: .*not an image"):
        to_model_batch([b"nope", draw()])


def test_robustness_benchmark_runs_on_a_tiny_setting(model_dir, tmp_path):
    import json

    from benchmarks import robustness

    output = tmp_path / "robustness.json"
    assert robustness.main(["--tiny", "--model-dir", str(model_dir), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert set(result["styles"]) == {"sketch_white_canvas", "sketch_transparent", "white_on_black",
                                     "small_corner", "photo"}
    for row in result["styles"].values():
        assert 0 <= row["naive_accuracy"] <= 100 and row["accuracy"] >= 50  # a 2-epoch model, 20 digits
    assert (tmp_path / "robustness_examples.png").is_file()
