"""Any poster in, a size x size x 3 uint8 RGB array out, within a memory budget.

A poster arrives as a path, bytes, a `datasets` Image cell, a PIL image or a numpy array; training,
`predict` and the Space all call `poster_to_array`, so every poster is prepared the same way. Small
files can decode to gigabytes (a 257 kB PNG of 10,900 x 10,900 16-bit pixels), so a file is
checked against a budget from its header, before any pixel is decoded: JPEGs decode at a reduced
scale (libjpeg's draft mode), other formats must cost at most MAX_DECODED_BYTES to decode. The
decoded picture is then reduced a strip of rows at a time, so no full-size copy (RGB conversion,
alpha compositing, 16-bit scaling) is ever made; the result matches converting the whole picture to
RGB and resizing it with Pillow's `resize(..., BILINEAR, reducing_gap=3.0)` to within one level.

Pixel values beyond 8 bits follow one rule for arrays and PIL images alike, so a uint16 array and
the 16-bit PNG it came from give the same poster:

- uint8: as is; bool: 0 or 255.
- uint16 (and 16-bit PIL images, as in 16-bit PNG and TIFF files): the full 0..65,535 range maps
  to 0..255 (value / 257), as image viewers show them.
- other integers (int32 PIL images, int64 arrays...) carry no bit depth, so their values decide:
  all in 0..255 are 8-bit values, all in 0..65,535 are 16-bit values; anything else is refused.
- floats (and 32-bit float PIL images): 0..1 if none exceeds 1, else 0..255; values outside are
  clipped; NaN or infinity is refused.

Pillow's global settings are left alone: a truncated file is an error here whatever
`ImageFile.LOAD_TRUNCATED_IMAGES` says elsewhere, and every file opened here is closed.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageMode, JpegImagePlugin, UnidentifiedImageError

# A 10,000 x 10,000 photo is odd but legitimate (JPEG decodes it at 1/8 scale); more is refused.
MAX_POSTER_PIXELS = 120_000_000
# What decoding a poster may cost, in bytes of pixels, checked from the header before decoding.
# Decoders spend their time producing the file's samples, at about 70-100 MB a second on one core
# of this machine for PNG, GIF and TIFF, so 40 MiB keeps any accepted poster under a second: a
# 3,700 x 3,700 RGB picture (a 4K poster of 2,764 x 4,096 fits), 3,200 x 3,200 RGBA, 6,400 x 6,400
# greyscale; a 64 x 64 model input needs far less. The memory it takes stays under 100 MB.
MAX_DECODED_BYTES = 40 * 2**20
# A progressive JPEG makes libjpeg hold the DCT coefficients of the whole picture, 2 bytes a
# sample, however small it decodes: 128 MiB is 6,600 x 6,600 in 4:2:0 or 4,700 x 4,700 in 4:4:4.
MAX_JPEG_COEFFICIENT_BYTES = 128 * 2**20
POSTER_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF"}
# Decoders that hold more than the picture: libwebp decodes into a canvas of its own that Pillow
# then copies; libtiff may read a whole-picture strip or an RGBA raster next to the picture.
DECODER_COPIES = {"WEBP": 3, "TIFF": 2}
# Pillow walks a file's structure in Python (PNG chunks, JPEG segments and the bytes between them,
# GIF extension blocks) at up to ~7 us a step: a 12 MB PNG of empty chunks took 4.6 s. Real posters
# have at most a few thousand steps (a 50 MB PNG in libpng's 8 kB chunks: 6,100); more are refused.
MAX_STRUCTURE_STEPS = 20_000
# Pillow decodes a few codecs in Python (RLE-compressed BMP): about 3M pixels a second at worst.
PYTHON_DECODED_PIXELS = 1_000_000
REDUCING_GAP = 3.0  # reduce by whole factors down to 3x the target, then resize bilinearly
STRIP_PIXELS = 1 << 20  # rows converted at a time: a few MB each
MODE_NAMES = {
    "1": "black-and-white", "L": "greyscale", "P": "palette", "LA": "greyscale+alpha", "PA": "palette+alpha",
    "RGB": "RGB", "RGBA": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr", "I;16": "16-bit greyscale",
    "I;16B": "16-bit greyscale", "I;16L": "16-bit greyscale", "I;16N": "16-bit greyscale",
    "I": "32-bit integer", "F": "32-bit float",
}
ALPHA_MODES = ("RGBA", "LA", "RGBa", "La")
REDUCIBLE_MODES = ("L", "RGB", "RGBX", "CMYK", "YCbCr")  # box averages of these are averages of the colours


def poster_to_array(poster, size: int) -> np.ndarray:
    """Any poster (source, mode, size) as a size x size x 3 uint8 RGB array; ValueError says why not."""
    if isinstance(poster, np.ndarray):
        return _array_poster(poster, size)
    if isinstance(poster, Image.Image):
        if isinstance(poster, ImageFile.ImageFile) and poster.tile:  # opened by the caller, not decoded yet
            _check_budget(poster, "the poster image", poster.size)
        return _image_poster(poster, size, "the poster image")
    with _decoded(poster, size) as (image, name):
        return _image_poster(image, size, name)


def posters_to_array(posters, size: int) -> np.ndarray:
    """Decode and resize a column of posters once, for every later epoch."""
    arrays = [poster_to_array(poster, size) for poster in posters]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


# ---- files and bytes: open, check the budget, decode ----------------------------------------------


class _WatchedReader:
    """The poster's data for Pillow, noting any read that finds the data's end: the file is
    truncated, whatever Pillow's global LOAD_TRUNCATED_IMAGES lets Pillow accept."""

    def __init__(self, handle):
        self._handle = handle
        self.ran_out = False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if not data and size != 0:
            self.ran_out = True
        return data

    def __getattr__(self, name):
        return getattr(self._handle, name)


@contextlib.contextmanager
def _decoded(poster, size: int):
    """(decoded PIL image, its human name), the file closed on leaving, also on errors."""
    data, path, name = _source(poster)
    with open(path, "rb") if path is not None else io.BytesIO(data) as handle:
        _check_structure(handle, name)
        reader = _WatchedReader(handle)
        try:
            image = Image.open(reader)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ValueError(f"{name} is too large to be a poster ({error})") from None
        except UnidentifiedImageError:
            raise ValueError(f"{name} is not a readable image (not a format Pillow knows)") from None
        except Exception as error:
            raise ValueError(f"{name} is not a readable image ({_describe(error)})") from None
        with image:
            if image.format not in POSTER_FORMATS:
                formats = ", ".join(dict.fromkeys(POSTER_FORMATS.values()))
                raise ValueError(f"{name} is a {image.format} image; a poster must be one of {formats}")
            header_size = image.size
            if isinstance(image, JpegImagePlugin.JpegImageFile):
                image.draft("RGB", (size * 2, size * 2))  # libjpeg decodes at 1/2, 1/4 or 1/8 scale
            _check_budget(image, name, header_size)
            reader.ran_out = False
            try:
                image.load()
            except Exception as error:
                if reader.ran_out or "truncated" in str(error):
                    raise ValueError(f"{name} is truncated: the data ends before the image does") from None
                raise ValueError(f"{name} could not be decoded ({_describe(error)})") from None
            if reader.ran_out:  # Pillow accepted the short data because LOAD_TRUNCATED_IMAGES is on
                raise ValueError(f"{name} is truncated: the data ends before the image does")
            yield image, name


def _source(poster) -> tuple[bytes | None, str | None, str]:
    """(bytes, path, a name for messages): exactly one of bytes and path is set."""
    if isinstance(poster, dict):  # a datasets Image(decode=False) cell
        if poster.get("bytes") is not None:
            poster = poster["bytes"]
        elif poster.get("path"):
            poster = poster["path"]
        else:
            raise ValueError("the poster cell has neither bytes nor a path")
    if isinstance(poster, (bytes, bytearray, memoryview)):
        if not len(poster):
            raise ValueError("the poster bytes are empty")
        return bytes(poster), None, "the poster"
    if isinstance(poster, (str, Path)):
        path = Path(poster)
        if not path.is_file():
            raise ValueError(f"poster file not found: {poster}")
        if path.stat().st_size == 0:
            raise ValueError(f"the poster file {poster} is empty")
        return None, str(path), f"the poster file {poster}"
    raise ValueError(f"a poster must be a path, bytes, PIL image or array, not {type(poster).__name__}")


def _check_structure(handle, name: str) -> None:
    """Refuse a PNG, JPEG or GIF whose structure Pillow would walk in more than MAX_STRUCTURE_STEPS
    steps of Python: a crafted file of tiny chunks, segments or blocks costs seconds to open."""
    signature = handle.read(8)
    handle.seek(0)
    walk = {b"\x89PNG": _png_steps, b"\xff\xd8": _jpeg_steps, b"GIF8": _gif_steps}
    steps = next((count for magic, count in walk.items() if signature.startswith(magic)), None)
    if steps is not None and steps(handle) > MAX_STRUCTURE_STEPS:
        raise ValueError(f"{name} is made of more than {MAX_STRUCTURE_STEPS:,} chunks or blocks, which no poster needs "
                         f"and which would take seconds to read")
    handle.seek(0)


def _png_steps(handle) -> int:
    """Chunks, up to IEND."""
    handle.seek(8)
    steps = 0
    while steps <= MAX_STRUCTURE_STEPS and len(header := handle.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        steps += 1
        if kind == b"IEND":
            break
        handle.seek(length + 4, io.SEEK_CUR)
    return steps


def _jpeg_steps(handle) -> int:
    """Segments, fill bytes and junk bytes before the first scan (libjpeg reads the rest, in C)."""
    handle.seek(2)
    steps = 0
    while steps <= MAX_STRUCTURE_STEPS and (byte := handle.read(1)):
        steps += 1
        if byte != b"\xff":
            continue  # junk between segments, which Pillow skips a byte at a time
        marker = handle.read(1)
        if marker in (b"", b"\xda", b"\xd9"):  # a scan (or the end) starts
            break
        if marker == b"\xff":
            handle.seek(-1, io.SEEK_CUR)  # a fill byte
        elif marker not in (b"\x00", b"\x01", b"\xd8") and not b"\xd0" <= marker <= b"\xd7":
            handle.seek(max(0, int.from_bytes(handle.read(2), "big") - 2), io.SEEK_CUR)
    return steps


def _gif_steps(handle) -> int:
    """Extension sub-blocks before the first frame (the frame's own blocks are read in C)."""
    header = handle.read(13)
    if len(header) < 13:
        return 0
    handle.seek(3 * 2 ** ((header[10] & 7) + 1) if header[10] & 0x80 else 0, io.SEEK_CUR)  # the colour table
    steps = 0
    while steps <= MAX_STRUCTURE_STEPS and handle.read(1) == b"\x21":
        handle.seek(1, io.SEEK_CUR)  # the extension's label
        while steps <= MAX_STRUCTURE_STEPS and (size := handle.read(1)) not in (b"", b"\x00"):
            steps += 1
            handle.seek(size[0], io.SEEK_CUR)
    return steps


def _check_budget(image: Image.Image, name: str, header_size: tuple[int, int]) -> None:
    """Refuse, from the header alone, a picture too costly to decode: too many pixels, a decoder
    written in Python, a progressive JPEG's coefficients, or more than MAX_DECODED_BYTES."""
    width, height = header_size
    if width * height > MAX_POSTER_PIXELS:
        raise ValueError(f"{name} is {width:,} x {height:,} pixels, more than the {MAX_POSTER_PIXELS:,} a poster may have")
    codec = image.tile[0].codec_name if getattr(image, "tile", None) else None
    if codec in Image.DECODERS and width * height > PYTHON_DECODED_PIXELS:  # a decoder written in Python
        raise ValueError(
            f"{name} is a {width:,} x {height:,} {POSTER_FORMATS.get(image.format, image.format)} compressed as {codec}, which Pillow decodes "
            f"slowly: such a poster may have {PYTHON_DECODED_PIXELS:,} pixels; saved as PNG or JPEG it works"
        )
    coefficients = _jpeg_coefficient_bytes(image, header_size)
    if coefficients > MAX_JPEG_COEFFICIENT_BYTES:
        raise ValueError(
            f"{name} is a progressive {width:,} x {height:,} JPEG, for which libjpeg would hold {coefficients / 2**20:,.0f} MB, "
            f"over the {MAX_JPEG_COEFFICIENT_BYTES / 2**20:,.0f} MB a poster may take; a smaller or baseline copy works"
        )
    needed = _decoded_bytes(image)
    if needed > MAX_DECODED_BYTES:
        kind = MODE_NAMES.get(image.mode, f"mode {image.mode}")
        what = f"a {width:,} x {height:,} {kind} {POSTER_FORMATS.get(image.format, image.format or 'image')}"
        raise ValueError(
            f"{name} is {what}: decoding it would take {needed / 2**20:,.0f} MB, over the "
            f"{MAX_DECODED_BYTES / 2**20:,.0f} MB a poster may take; a smaller copy (a few thousand pixels a side) works"
        )


def _decoded_bytes(image: Image.Image) -> int:
    """What decoding costs, in bytes: pixels (after any JPEG draft) times the bytes of the file's
    samples (16-bit RGB: 6; Pillow's own when the file does not say), times the decoder's copies.
    Palettes (and GIFs) count as the 4-byte RGB(A) they are expanded to before averaging, which costs
    as much time."""
    width, height = image.size
    per_pixel = _file_bytes_per_pixel(image) or _bytes_per_pixel(image.mode)
    if image.mode in ("P", "PA") or image.format == "GIF":
        per_pixel = 4
    return width * height * per_pixel * DECODER_COPIES.get(image.format, 1)


def _jpeg_coefficient_bytes(image: Image.Image, header_size: tuple[int, int]) -> int:
    """What libjpeg holds for a progressive JPEG: every component's DCT coefficients at full size."""
    if not (isinstance(image, JpegImagePlugin.JpegImageFile) and image.info.get("progressive")):
        return 0
    h_max = max(h for _, h, _, _ in image.layer)
    v_max = max(v for _, _, v, _ in image.layer)
    return sum(2 * math.ceil(header_size[0] * h / h_max) * math.ceil(header_size[1] * v / v_max) for _, h, v, _ in image.layer)


def _bytes_per_pixel(mode: str) -> int:
    """Pillow keeps one band in 1, 2 or 4 bytes and every multi-band pixel in 4 bytes."""
    try:
        described = ImageMode.getmode(mode)
    except KeyError:
        return 4
    return 4 if len(described.bands) > 1 else np.dtype(described.typestr).itemsize


def _file_bytes_per_pixel(image: Image.Image) -> int | None:
    """Bytes a pixel takes in the file's samples, from the decoder's raw mode ("RGBA;16B": 8)."""
    args = image.tile[0].args if getattr(image, "tile", None) else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    if not isinstance(rawmode, str):
        return None
    bits = re.search(r";(16|32)", rawmode)
    return len(image.getbands()) * (int(bits.group(1)) // 8 if bits else 1)


def _describe(error: Exception) -> str:
    """An exception in words, without object reprs like <_io.BytesIO object at 0x7f...>."""
    message = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(error)).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


# ---- decoded pictures and arrays to size x size RGB, in strips -------------------------------------


def _image_poster(image: Image.Image, size: int, name: str) -> np.ndarray:
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"{name} has no pixels ({width} x {height})")
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        low, high = image.getextrema()
        dtype = np.dtype(ImageMode.getmode(image.mode).typestr)
        scale = _value_scale(dtype, low, high, name)

        def strip(top: int, bottom: int, factors: tuple[int, int]) -> Image.Image:
            return _to_uint8(np.asarray(image.crop((0, top, width, bottom))), dtype, scale).reduce(factors)
    else:

        def strip(top: int, bottom: int, factors: tuple[int, int]) -> Image.Image:
            if image.mode in REDUCIBLE_MODES:  # averaged in place, no copy of the rows
                return image.reduce(factors, box=(0, top, width, bottom))
            # Pillow's reduce premultiplies alpha but cannot average palette indices or 1-bit pixels.
            rows = image.crop((0, top, width, bottom))
            if rows.mode in ("P", "PA", "1"):
                rows = rows.convert("RGBA" if rows.has_transparency_data else "L" if rows.mode == "1" else "RGB")
            return rows.reduce(factors)
    try:
        return _reduced(strip, width, height, size)
    except (OSError, ValueError) as error:  # e.g. a mode Pillow cannot turn into RGB
        raise ValueError(f"{name} could not be converted to RGB ({_describe(error)})") from None


def _array_poster(array: np.ndarray, size: int) -> np.ndarray:
    name = "the poster array"
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise ValueError(f"a poster array must be HxW, HxWx1, HxWx2, HxWx3 or HxWx4, not {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty ({array.shape})")
    if array.dtype != np.uint8 and array.dtype.kind not in "biuf":
        raise ValueError(f"{name} holds {array.dtype} values, not numbers")
    scale = _value_scale(array.dtype, array.min(), array.max(), name)  # min and max make no copies
    height, width = array.shape[:2]
    return _reduced(lambda top, bottom, factors: _to_uint8(array[top:bottom], array.dtype, scale).reduce(factors),
                    width, height, size)


def _value_scale(dtype: np.dtype, low, high, name: str) -> float:
    """The factor that maps this poster's pixel values to 0..255 (the rule in the module docstring)."""
    if dtype.kind == "b":
        return 255.0
    if dtype.kind == "f":
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{name} has NaN or infinite values")
        return 255.0 if high <= 1.0 else 1.0
    if dtype.kind == "u" and dtype.itemsize == 1:
        return 1.0
    if dtype.kind == "u" and dtype.itemsize == 2:
        return 255.0 / 65535.0
    if low >= 0 and high <= 255:
        return 1.0
    if low >= 0 and high <= 65535:
        return 255.0 / 65535.0
    raise ValueError(
        f"{name} has {dtype.name} values from {low:,} to {high:,}: integer pixels must be 8-bit (0..255) or 16-bit (0..65,535)"
    )


def _to_uint8(values: np.ndarray, dtype: np.dtype, scale: float) -> Image.Image:
    """A few rows of pixel values as an 8-bit PIL image (L, LA, RGB or RGBA by channel count)."""
    if dtype == np.uint8:
        rows = values
    elif dtype.kind in "iu" and scale == 1.0:
        rows = values.astype(np.uint8)  # checked to lie in 0..255
    else:
        rows = np.multiply(values, scale, dtype=np.float32)  # float32: never a float64 copy
        np.clip(rows, 0, 255, out=rows)
        rows = np.rint(rows, out=rows).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(rows))


def _reduced(strip, width: int, height: int, size: int) -> np.ndarray:
    """Reduce by Pillow's reducing_gap factors a strip of rows at a time (`strip(top, bottom, factors)`
    gives those rows averaged over factor x factor boxes), then resize bilinearly to size x size:
    what `resize(..., BILINEAR, reducing_gap=3.0)` does, with only a strip ever held at full size."""
    factors = (int(width / size / REDUCING_GAP) or 1, int(height / size / REDUCING_GAP) or 1)
    strip_rows = max(1, STRIP_PIXELS // (width * factors[1])) * factors[1]
    if strip_rows >= height:  # one strip (most posters): no canvas to paste it into
        reduced = _to_rgb(strip(0, height, factors))
    else:
        reduced = Image.new("RGB", (-(-width // factors[0]), -(-height // factors[1])))
        for top in range(0, height, strip_rows):
            reduced.paste(_to_rgb(strip(top, min(height, top + strip_rows), factors)), (0, top // factors[1]))
    box = (0.0, 0.0, width / factors[0], height / factors[1])
    return np.asarray(reduced.resize((size, size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB from a reduced strip: transparency over white, CMYK and the rest converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ALPHA_MODES:
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")
