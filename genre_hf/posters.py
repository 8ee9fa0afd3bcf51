"""Posters in any form (path, bytes, PIL image, array, a datasets Image cell) -> size x size RGB uint8.

Training, `predict` and the app call the same function, so a poster is prepared the same way in all.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

# A 10,000 x 10,000 poster is odd but legitimate; beyond this we refuse rather than exhaust memory.
MAX_POSTER_PIXELS = 120_000_000
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey half-poster


def open_poster(poster) -> Image.Image:
    """A PIL image from a path, bytes, a PIL image or an array; ValueError says what was wrong."""
    if isinstance(poster, Image.Image):
        return poster
    if isinstance(poster, np.ndarray):
        return _array_to_image(poster)
    if isinstance(poster, dict):  # a datasets Image(decode=False) cell
        poster = poster.get("bytes") or poster.get("path")
    if isinstance(poster, (bytes, bytearray)):
        source, name = io.BytesIO(poster), "the poster bytes"
    elif isinstance(poster, (str, Path)):
        if not Path(poster).is_file():
            raise ValueError(f"poster file not found: {poster}")
        source, name = poster, str(poster)
    else:
        raise ValueError(f"a poster must be a path, bytes, PIL image or array, not {type(poster).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source)
    except Image.DecompressionBombError as error:
        raise ValueError(f"{name} is too large to be a poster: {error}") from None
    except Exception as error:
        raise ValueError(f"{name} is not a readable image ({type(error).__name__}: {error})") from None


def poster_to_array(poster, size: int) -> np.ndarray:
    """Any poster (mode, size, source) as a size x size x 3 uint8 RGB array."""
    image = open_poster(poster)
    width, height = image.size
    if width * height > MAX_POSTER_PIXELS:
        raise ValueError(f"the poster is {width}x{height}: over {MAX_POSTER_PIXELS:,} pixels")
    try:
        if image.format == "JPEG":
            image.draft("RGB", (size * 2, size * 2))  # decode big JPEGs at a reduced scale
        image = _to_rgb(image)
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"the poster could not be decoded ({error})") from None
    return np.asarray(image, dtype=np.uint8)


def posters_to_array(posters, size: int) -> np.ndarray:
    """Decode and resize a column of posters once, for every later epoch."""
    arrays = [poster_to_array(poster, size) for poster in posters]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"a poster array must be HxW, HxWx1, HxWx3 or HxWx4, not {array.shape}")
    if array.size == 0:
        raise ValueError("the poster array is empty")
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ValueError("the poster array has NaN or infinite values")
        scale = 255.0 if array.max() <= 1.0 else 1.0  # floats in [0, 1] or values in [0, 255]
        array = np.clip(array * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(array)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every mode: transparency over white, high bit depths scaled, CMYK converted."""
    if image.mode in HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        values = values * (255.0 / max(values.max(), 1.0))
        image = Image.fromarray(values.astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")
