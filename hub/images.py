"""Decoding any image a user or a Python caller sends into a PIL image, with the checks a public endpoint needs.

One guarded decode for everything that touches an image (the app's UI functions, the API, `MnistClassifier`):
the pixel count is checked from the header before a single pixel is decoded (decompression bombs), big JPEGs
are decoded at reduced scale, EXIF orientation is applied, and every mode (16-bit, palette, CMYK, alpha...) is
normalised to "L", "RGB" or "RGBA". Turning the picture into MNIST form is `hub.preprocess`'s job.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

# What one accepted image may cost, measured by benchmarks/reliability.py on the worst formats (16/32-bit and float
# TIFF, 16-bit PNG, transparent PNG, animated WebP, progressive CMYK JPEG): at most 300 MB of extra memory and about
# 1 s in the worker on the 2-core development machine. Bigger images are refused from the header, before decoding.
MAX_PIXELS = 12_000_000  # decoded at full size: 4000 x 3000, a 12-megapixel photo
MAX_JPEG_PIXELS = 24_000_000  # JPEGs decoded reduced (draft mode, when the caller gives max_side): 6000 x 4000
MAX_ASPECT = 10  # longer side / shorter side; a digit is roughly square, a 1000x8 strip is not a picture of one
MIN_SIDE = 8  # smaller than this is not a picture of a digit (covers 0-size and 1xN images)
# Only these decoders run on what users send: the common picture formats (JPEG includes phone cameras' MPO files).
# Pillow's others (EPS would start Ghostscript; rarely used parsers are more attack surface) are never tried.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


class ImageInputError(ValueError):
    """The input is not a usable image; the message says what was wrong and what to do."""


def load_image(source, max_side: int | None = None) -> Image.Image:
    """Decode `source` into a PIL image in mode "L", "RGB" or "RGBA".

    Accepts a path (str / Path), bytes, a binary file-like object, a PIL image, a numpy array
    ((H, W), (H, W, 1|2|3|4); uint8, uint16, bool or float in [0, 1]), or a Gradio
    Sketchpad/ImageEditor value (a dict with a "composite" entry). Refuses decompression bombs
    from the header before decoding, applies the EXIF orientation, takes the first frame of
    animations and converts 16-bit, palette, LA, CMYK, ... images with the right scaling.
    With `max_side`, big JPEGs may be decoded at reduced scale (never below max_side; much faster for photos).
    Raises ImageInputError with a message for humans.
    """
    if isinstance(source, dict) and "composite" in source:  # gr.Sketchpad / gr.ImageEditor value
        source = source["composite"]
    if source is None:
        raise ImageInputError("No image was given: draw a digit or upload an image.")
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = _decode(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageInputError(f"Image file not found: {str(path)!r}. Check the path.")
        with open(path, "rb") as handle:
            image = _open_and_decode(handle, max_side)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _open_and_decode(io.BytesIO(bytes(source)), max_side)
    elif hasattr(source, "read"):
        image = _open_and_decode(source, max_side)
    else:
        raise ImageInputError(
            f"Cannot read an image from a {type(source).__name__}: give a file path, bytes, a file "
            "object, a PIL image or a numpy array."
        )
    _check_size(image.size)
    return image


def _check_size(size, max_pixels=MAX_PIXELS):
    width, height = size
    if width * height > max_pixels:
        raise ImageInputError(
            f"The image is too large ({width}x{height} pixels; at most {max_pixels // 1_000_000} "
            "megapixels are accepted). Resize it and try again."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(
            f"The image is too small ({width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is "
            "needed). Upload a picture of a digit."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageInputError(
            f"The image is too {'wide' if width > height else 'tall'} ({width}x{height} pixels; the longer side may be "
            f"at most {MAX_ASPECT} times the shorter one). Crop it around the digit and try again."
        )


def _open_and_decode(stream, max_side):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageInputError(
            f"The image is too large to decode safely ({error}). Resize it and try again."
        ) from None
    except Exception:  # UnidentifiedImageError, and whatever a broken header raises
        raise ImageInputError(
            "The file is not an image Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF...): "
            "upload a picture of a digit."
        ) from None
    reduced = bool(max_side) and image.format in ("JPEG", "MPO")
    _check_size(image.size, MAX_JPEG_PIXELS if reduced else MAX_PIXELS)  # header only: before decoding a pixel
    if reduced and max(image.size) > 2 * max_side:
        image.draft(image.mode, (max_side, max_side))  # DCT-domain downscale, never below max_side
    return _decode(image)


def _decode(image):
    """Load pixels (first frame), apply EXIF orientation and normalise the mode."""
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        image.load()
    except Exception as error:
        raise ImageInputError(
            f"The image could not be decoded ({error}); the file may be truncated or corrupt. "
            "Save it again and re-upload."
        ) from None
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block is no reason to refuse the picture
        orientation = 1
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        image = ImageOps.exif_transpose(image)
    return _normalise_mode(image)


def _normalise_mode(image):
    mode = image.mode
    if mode in ("L", "RGB", "RGBA"):
        return image
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer and float grayscale
        return _from_array(np.asarray(image))
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _from_array(array):
    """A numpy image -> PIL image in L / RGB / RGBA (uint8), scaling other dtypes sensibly."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ImageInputError(
            f"A numpy image must be (H, W) or (H, W, 1|2|3|4); got shape {array.shape}."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise ImageInputError(f"A numpy image must hold numbers; got dtype {array.dtype}.")
    if array.size == 0 or min(array.shape[:2]) < MIN_SIDE:
        raise ImageInputError(
            f"The image is too small ({array.shape[1] if array.ndim > 1 else 0}x{array.shape[0]} "
            f"pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed). Upload a picture of a digit."
        )
    array = _to_uint8(array)
    if array.ndim == 3 and array.shape[2] == 2:  # gray + alpha
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_uint8(array):
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    values = array.astype(np.float32)  # a copy, scaled in place below: 16/32-bit images are the costliest to decode
    if not np.isfinite(values).all():
        raise ImageInputError("The numpy image contains NaN or infinite values.")
    top = float(values.max()) if values.size else 0.0
    if array.dtype == np.uint16:
        scale = 255.0 / 65535.0
    elif top <= 1.0:
        scale = 255.0  # float in [0, 1]
    elif top <= 255.0:
        scale = 1.0
    elif top <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top
    values *= scale
    values += 0.5
    np.clip(values, 0, 255, out=values)
    return values.astype(np.uint8)
