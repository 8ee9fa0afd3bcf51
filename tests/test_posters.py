"""Posters of every source, mode and size become 64x64 RGB within a memory budget; bad posters,
and posters too costly to decode, give a ValueError that says what was wrong."""

import gc
import io
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from genre_hf.data.posters import MAX_DECODED_BYTES, MAX_POSTER_PIXELS, poster_to_array, posters_to_array

ROOT = Path(__file__).resolve().parents[1]


def png(path, width: int, height: int, row: bytes, bit_depth: int = 8, colour: int = 0):
    """A complete PNG whose rows all equal `row` (colour 0 grey, 2 RGB, 6 RGBA): a huge picture in a
    small file, made in a blink. 64 rows are deflated once, as a self-contained segment, and repeated."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def segment(rows: int) -> tuple[bytes, int]:
        compressor, data = zlib.compressobj(9, wbits=-15), (b"\0" + row) * rows
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH), zlib.adler32(data)

    body, checksum = [b"\x78\xda"], 1
    (block, block_sum), (tail, tail_sum) = segment(64), segment(height % 64)
    for part, part_sum, rows in [(block, block_sum, 64)] * (height // 64) + [(tail, tail_sum, height % 64)]:
        body.append(part)
        checksum = adler32_combine(checksum, part_sum, rows * (len(row) + 1))
    body.append(b"\x03\x00" + struct.pack(">I", checksum))  # an empty final block, then the checksum
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))
    return path


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """zlib's adler32_combine: the checksum of two pieces of data from theirs."""
    base, rem = 65521, second_length % 65521
    low = ((first & 0xFFFF) + (second & 0xFFFF) + base - 1) % base
    high = (rem * (first & 0xFFFF) + (first >> 16) + (second >> 16) + base - rem) % base
    return high << 16 | low


def no_resource_warnings(call):
    """Run `call` and collect garbage; fail on any file left open."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            return call()
        finally:
            gc.collect()
            leaks = [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)]
            assert leaks == []


# ---- every source and mode ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "1", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(sample_movie, mode):
    poster = Image.open(sample_movie[0])
    grey = np.asarray(poster.convert("L"))
    converted = {
        "I;16": Image.fromarray(grey.astype(np.uint16) * 257),  # a 16-bit picture spans 0..65,535
        "I": Image.fromarray(grey.astype(np.int32)),
        "F": Image.fromarray(grey.astype(np.float32)),
    }.get(mode) or poster.convert(mode)
    array = poster_to_array(converted, 64)
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8
    assert array.std() > 40  # the picture survived, not a black or flat square
    if mode in ("L", "I;16", "I", "F"):  # the same grey picture in every bit depth
        assert np.abs(array.astype(int) - poster_to_array(poster.convert("L"), 64)).max() <= 1


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (30, 50), (255, 0, 0, 0))
    assert (poster_to_array(image, 64) == 255).all()
    palette = Image.new("P", (30, 50), 3)
    palette.info["transparency"] = 3
    assert (poster_to_array(palette, 64) == 255).all()


def test_big_transparent_poster_matches_compositing_the_whole_picture():
    pixels = np.random.default_rng(0).integers(0, 256, (1500, 1100, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    whole = Image.alpha_composite(white, image).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=3.0)
    assert np.abs(poster_to_array(image, 64).astype(int) - np.asarray(whole)).max() <= 1


def test_paths_bytes_cells_and_arrays_agree(sample_movie):
    path = sample_movie[0]
    from_path = poster_to_array(path, 64)
    assert (poster_to_array(path.read_bytes(), 64) == from_path).all()
    assert (poster_to_array({"bytes": path.read_bytes(), "path": None}, 64) == from_path).all()
    assert (poster_to_array({"bytes": None, "path": str(path)}, 64) == from_path).all()
    decoded = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(poster_to_array(decoded, 64).astype(int) - from_path).max() <= 1
    assert np.abs(poster_to_array(decoded / 255.0, 64).astype(int) - from_path).max() <= 1
    batch = posters_to_array([path, path.read_bytes()], 64)
    assert batch.shape == (2, 64, 64, 3) and (batch == from_path).all()


# ---- one rule for pixel values beyond 8 bits ---------------------------------------------------


@pytest.mark.parametrize("shape", [(300, 200), (1200, 900)])  # reduced in one strip, and in many
def test_uint16_array_and_16_bit_image_give_the_same_poster(shape):
    values = (np.random.default_rng(1).random(shape) * 65535).astype(np.uint16)
    from_array = poster_to_array(values, 64)
    assert (poster_to_array(Image.fromarray(values), 64) == from_array).all()
    encoded = io.BytesIO()
    Image.fromarray(values).save(encoded, "PNG")
    assert (poster_to_array(encoded.getvalue(), 64) == from_array).all()
    assert (poster_to_array(values.astype(np.int32), 64) == from_array).all()  # values beyond 255: 16-bit
    assert np.abs(poster_to_array(values / 65535.0, 64).astype(int) - from_array).max() <= 1
    assert abs(from_array.mean() - values.mean() / 257) < 2  # scaled by the 16-bit range, not clipped


def test_pixel_values_follow_the_documented_rule():
    grey = lambda value, dtype: poster_to_array(np.full((8, 8), value, dtype), 64)[0, 0, 0]
    assert grey(65535, np.uint16) == 255 and grey(255, np.uint16) == 1  # 16-bit range
    assert grey(255, np.int64) == 255 and grey(1000, np.int32) == 4  # no bit depth: the values decide
    assert grey(1.0, np.float32) == 255 and grey(128.0, np.float64) == 128 and grey(300.0, np.float64) == 255
    assert grey(True, bool) == 255


@pytest.mark.parametrize(
    "poster, message",
    [
        (np.full((4, 4), -1, np.int16), "values from -1 to -1: integer pixels must be 8-bit"),
        (np.full((4, 4), 70_000, np.int64), "values from 70,000 to 70,000"),
        (np.full((4, 4, 3), np.nan), "NaN"),
        (np.array([[1.0, np.inf]]), "infinite"),
        (np.zeros((4, 4), complex), "not numbers"),
        (Image.fromarray(np.full((4, 4), 70_000, np.int32)), "the poster image has int32 values"),
    ],
)
def test_values_without_a_meaning_are_refused(poster, message):
    with pytest.raises(ValueError, match=message):
        poster_to_array(poster, 64)


def test_big_arrays_get_no_float64_copy():
    pixels = np.random.default_rng(2).random((3000, 3000, 3), dtype=np.float32)  # 108 MB
    tracemalloc.start()
    try:
        poster_to_array(pixels, 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20  # strips of rows, not a 216 MB float64 copy


# ---- the decoding budget ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "width, height, bit_depth, colour, message",
    [
        (10_900, 10_900, 16, 0, "10,900 x 10,900 16-bit greyscale PNG: decoding it would take 227 MB, over the 40 MB"),
        (10_000, 10_000, 8, 6, "10,000 x 10,000 RGBA PNG: decoding it would take 381 MB"),
        (3_000, 3_000, 16, 2, "3,000 x 3,000 RGB PNG: decoding it would take 51 MB"),  # 16-bit RGB: 6 bytes a pixel
        (11_000, 11_000, 8, 0, "11,000 x 11,000 pixels, more than the 120,000,000 a poster may have"),
        (14_000, 14_000, 8, 0, "too large to be a poster"),  # Pillow's decompression-bomb error, kept
    ],
)
def test_costly_pngs_are_refused_before_decoding(tmp_path, monkeypatch, width, height, bit_depth, colour, message):
    channels = {0: 1, 2: 3, 6: 4}[colour]
    path = png(tmp_path / "bomb.png", width, height, bytes(width * channels * bit_depth // 8), bit_depth, colour)
    assert path.stat().st_size < 2_000_000
    decoded = []  # refused from the header: Pillow's decoder never starts (a timing bound failed on a busy machine)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size))
    with pytest.raises(ValueError, match=message) as error:
        no_resource_warnings(lambda: poster_to_array(path, 64))
    assert decoded == []
    assert str(path) in str(error.value)


def test_float_tiff_and_progressive_jpeg_are_refused(tmp_path):
    tiff, progressive = tmp_path / "float.tif", tmp_path / "progressive.jpg"
    Image.new("F", (3_000, 3_000), 0.5).save(tiff, compression="tiff_adobe_deflate")
    with pytest.raises(ValueError, match="3,000 x 3,000 32-bit float TIFF: decoding it would take 69 MB"):
        poster_to_array(tiff, 64)
    Image.new("RGB", (8_000, 8_000), (10, 200, 30)).save(progressive, progressive=True, quality=50)
    with pytest.raises(ValueError, match="a progressive 8,000 x 8,000 JPEG, for which libjpeg would hold 183 MB"):
        poster_to_array(progressive, 64)  # its DCT coefficients: 2 bytes a sample, 1.5 samples a pixel (4:2:0)


def test_bmp_that_pillow_decodes_in_python_is_refused_beyond_a_million_pixels(tmp_path, monkeypatch):
    def rle_bmp(side: int) -> bytes:  # every row: one pixel, then "end of line", which Pillow pads byte by byte
        pixels = b"\x01\x80\x00\x00" * side + b"\x00\x01"
        palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
        header = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
        offset = 14 + len(header) + len(palette)
        return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + palette + pixels

    small = poster_to_array(rle_bmp(500), 64)  # black, with a grey line on the left
    assert (small[:, 0] > 5).all() and (small[:, 8:] == 0).all()
    decoded = []  # 12 kB, but seconds of Python to decode: refused before the decoder starts
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size))
    with pytest.raises(ValueError, match="is a 3,000 x 3,000 BMP compressed as bmp_rle, which Pillow decodes slowly"):
        poster_to_array(rle_bmp(3_000), 64)
    assert decoded == []


def structure_bomb(kind: str, steps: int) -> bytes:
    """A tiny picture behind `steps` empty PNG chunks, JPEG fill bytes or GIF comment blocks, which
    Pillow would walk one by one in Python."""
    encoded = io.BytesIO()
    Image.new("L", (10, 10), 99).save(encoded, kind)
    data = encoded.getvalue()
    if kind == "PNG":
        empty = struct.pack(">I4sI", 0, b"abCd", zlib.crc32(b"abCd"))
        return data[:33] + empty * steps + data[33:]  # after the signature and IHDR
    if kind == "JPEG":
        return data[:2] + b"\xff" * steps + data[2:]
    colours = 3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0
    return data[: 13 + colours] + b"\x21\xfe" + b"\x01x" * steps + b"\x00" + data[13 + colours :]


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF"])
def test_files_of_countless_tiny_blocks_are_refused_before_pillow_walks_them(kind, monkeypatch):
    assert poster_to_array(structure_bomb(kind, 100), 64).mean() == pytest.approx(99, abs=1)
    opened = []  # Pillow would walk them all on opening (PNG: ~1 s per 200,000): refused before it opens the file
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args))
    with pytest.raises(ValueError, match="the poster is made of more than 20,000 chunks or blocks"):
        poster_to_array(structure_bomb(kind, 200_000), 64)
    assert opened == []


def test_jpeg_metadata_is_no_obstacle(tmp_path, sample_movie):
    exif = Image.Exif()
    exif[0x010E] = "a poster " * 2000  # ImageDescription: an 18 kB EXIF segment
    metadata = dict(exif=exif, icc_profile=b"\0" * 300_000)  # the profile in 5 segments
    for name, options in [("comment.jpg", dict(comment=b"c" * 60_000)), ("progressive.jpg", dict(progressive=True))]:
        Image.open(sample_movie[0]).save(tmp_path / name, **metadata, **options)
        assert np.abs(poster_to_array(tmp_path / name, 64).astype(int) - poster_to_array(sample_movie[0], 64)).mean() < 3


def test_large_pngs_within_the_budget_are_decoded(tmp_path):
    side = 4_000  # 16-bit grey: 32 MB, half of it white
    row = np.r_[np.full(side // 2, 65535), np.zeros(side // 2)].astype(">u2").tobytes()
    array = poster_to_array(png(tmp_path / "big16.png", side, side, row, 16, 0), 64)
    assert (array[:, :31] == 255).all() and (array[:, 33:] == 0).all()
    assert 4_000 * 4_000 * 2 < MAX_DECODED_BYTES


def test_a_caller_opened_image_is_checked_before_decoding(tmp_path):
    path = png(tmp_path / "bomb.png", 8_000, 8_000, bytes(8_000 * 2), 16, 0)
    with Image.open(path) as image, pytest.raises(ValueError, match="the poster image is a 8,000 x 8,000 16-bit"):
        poster_to_array(image, 64)


def test_huge_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (10_000, 10_000), (10, 200, 30)).save(path, quality=50)
    decoded, load = [], ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size) or load(image))
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow's warning beyond 89M pixels is kept
        array = poster_to_array(path, 64)
    assert decoded and set(decoded) == {(1_250, 1_250)}  # libjpeg decoded it at 1/8 scale (about 0.1 s), not 300 MB of pixels
    assert array.shape == (64, 64, 3)
    assert abs(int(array[..., 1].mean()) - 200) < 5
    assert 10_000 * 10_000 <= MAX_POSTER_PIXELS


# ---- files: closed, first frames, truncation, clear messages -------------------------------------


def test_animated_gif_gives_its_first_frame_and_closes_the_file(tmp_path):
    path = tmp_path / "animated.gif"
    Image.new("RGB", (40, 30), "red").save(path, save_all=True, append_images=[Image.new("RGB", (40, 30), "blue")])
    array = no_resource_warnings(lambda: poster_to_array(path, 64))
    assert (array[..., 0] == 255).all() and (array[..., 2] == 0).all()


def truncated(sample_movie, kind: str) -> bytes:
    if kind == "JPEG":
        data = sample_movie[0].read_bytes()
    else:
        encoded = io.BytesIO()
        Image.open(sample_movie[0]).save(encoded, "PNG")
        data = encoded.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
@pytest.mark.parametrize("pillow_accepts_truncated", [False, True])
def test_truncated_files_are_errors_whatever_pillow_is_told(sample_movie, tmp_path, monkeypatch, kind, pillow_accepts_truncated):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_accepts_truncated)  # as another library might
    data = truncated(sample_movie, kind)
    path = tmp_path / f"half.{kind.lower()}"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="the poster is truncated: the data ends before the image does"):
        poster_to_array(data, 64)
    with pytest.raises(ValueError, match=f"the poster file {path} is truncated"):
        no_resource_warnings(lambda: poster_to_array(path, 64))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is pillow_accepts_truncated  # left as it was


def test_importing_leaves_pillow_settings_alone():
    script = ("from PIL import ImageFile; ImageFile.LOAD_TRUNCATED_IMAGES = True; "
              "import genre_hf.data.posters, genre_hf.features.featurizer; print(ImageFile.LOAD_TRUNCATED_IMAGES)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize(
    "poster, message",
    [
        (b"", "the poster bytes are empty"),
        (b"this is not an image", "the poster is not a readable image"),
        ("/definitely/missing.jpg", "poster file not found: /definitely/missing.jpg"),
        ({"bytes": None, "path": None}, "the poster cell has neither bytes nor a path"),
        (np.zeros((0, 0, 3), np.uint8), "the poster array is empty"),
        (np.zeros((4, 4, 5), np.uint8), "HxW"),
        (42, "must be a path, bytes, PIL image or array, not int"),
    ],
)
def test_bad_posters_are_clear_errors(poster, message):
    with pytest.raises(ValueError, match=message) as error:
        poster_to_array(poster, 64)
    assert " at 0x" not in str(error.value) and "<" not in str(error.value)  # never an object's repr


def test_empty_files_and_other_formats_are_named(tmp_path):
    empty, pgm = tmp_path / "empty.png", tmp_path / "poster.pgm"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"the poster file {empty} is empty"):
        poster_to_array(empty, 64)
    Image.new("L", (30, 40)).save(pgm)
    with pytest.raises(ValueError, match="is a PPM image; a poster must be one of JPEG, PNG, WebP, GIF, BMP, TIFF"):
        no_resource_warnings(lambda: poster_to_array(pgm, 64))
