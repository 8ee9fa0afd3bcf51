"""Poster decoding within a memory budget: the worst posters, each decoded in fresh processes.

    .venv/bin/python benchmarks/poster_decoding.py [--runs 3] [--root CHECKOUT] [--keep DIR] [--only TEXT] [--timeout S]

Writes posters that cost far more to decode than their files suggest (the issue's 16-bit 10,900 x
10,900 PNG, huge RGBA, palette and float pictures, 10,000 x 10,000 JPEGs in CMYK and progressive,
WebP, BMP, an animated GIF), and the largest of each kind the budget accepts, into a temporary
folder. Each is then given as a path to `poster_to_array(path, 64)` (what `predict` and the app do)
in a fresh process, which reports the extra peak memory (the peak RSS, VmHWM, reset just before the
decode, minus the RSS then: ru_maxrss would also count memory a child inherits from this process on
Linux), the wall and CPU time of the decode, and whether the poster was accepted or refused (and
why); the table shows the median of --runs processes. The machine may be shared: CPU seconds are
what a decode costs a free core. --root decodes with another checkout's code for a before/after
(there, poster decoding may still live in genre_hf/features.py).
Target: at most 300 MB and 1 s for every accepted poster.
"""

import argparse
import io
import json
import math
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
from genre_hf.data.posters import MAX_DECODED_BYTES, MAX_JPEG_COEFFICIENT_BYTES  # noqa: E402  (sizes follow the budget)

REAL_POSTER = ROOT.parent / "shared" / "data" / "imdb-multimodal" / "Images" / "tt0086425.jpg"
TARGET_MB, TARGET_S = 300, 1.0
CHILD = """
import io, json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from PIL import Image
try:
    from genre_hf.data.posters import poster_to_array
except ImportError:

def status_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024

Image.init()  # every plugin imported, and a small poster of each kind decoded, before measuring
for mode, fmt in [("RGB", "JPEG"), ("RGBA", "PNG"), ("I;16", "PNG"), ("F", "TIFF"), ("RGB", "WEBP"), ("P", "GIF"), ("RGB", "BMP")]:
    buffer = io.BytesIO()
    Image.new(mode, (300, 200)).save(buffer, fmt)
    poster_to_array(buffer.getvalue(), 64)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset the peak RSS (VmHWM) to the RSS now
before = status_mb("VmRSS")
started, cpu = time.perf_counter(), time.process_time()
try:
    array = poster_to_array(sys.argv[2], 64)
    outcome, message = "accepted", f"mean {array.mean():.0f}"
except ValueError as error:
    outcome, message = "refused", str(error)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = status_mb("VmHWM")
print(json.dumps({"outcome": outcome, "message": message, "seconds": seconds, "cpu": cpu, "extra_mb": peak - before}))
"""


def picture(height: int, width: int, channels: int = 3, noise: int = 16, seed: int = 0) -> np.ndarray:
    """A smooth gradient with some noise, like a photo to a compressor: made in bands of rows."""
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, channels), np.uint8)
    x = np.linspace(0, 1, width, dtype=np.float32)
    for top in range(0, height, 512):
        y = np.linspace(top / height, min(height, top + 512) / height, min(512, height - top), dtype=np.float32)[:, None]
        for c in range(channels):
            band = 40 + 170 * (y * (c + 1) / 4 + x * (3 - c) / 4)
            band += rng.integers(0, noise + 1, band.shape, dtype=np.uint8) if noise else 0
            out[top:top + 512, :, c] = np.clip(band, 0, 255)
    return out


def png(path: Path, pixels: np.ndarray, alpha: bool = False) -> None:
    """A PNG of any bit depth (Pillow writes no 16-bit RGB), written by hand, a band of rows at a time."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    depth = pixels.dtype.itemsize * 8
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor = zlib.compressobj(1)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)))
        for top in range(0, height, 256):
            rows = pixels[top:top + 256].astype(pixels.dtype.newbyteorder(">")).reshape(-1, width * channels)
            raw = np.concatenate([np.zeros((len(rows), 1), np.uint8), rows.view(np.uint8)], axis=1).tobytes()
            handle.write(chunk(b"IDAT", compressor.compress(raw)))
        handle.write(chunk(b"IDAT", compressor.flush()) + chunk(b"IEND", b""))


def rle_bmp(side: int) -> bytes:
    """An RLE-compressed BMP whose rows are one pixel and "end of line", which Pillow's decoder,
    written in Python, pads byte by byte: kilobytes that take seconds."""
    pixels = b"\x01\x80\x00\x00" * side + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    header = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(header) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + palette + pixels


def structure_bomb(kind: str, steps: int) -> bytes:
    """A tiny picture behind `steps` empty PNG chunks, JPEG fill bytes or GIF comment blocks, which
    Pillow walks one by one in Python."""
    encoded = io.BytesIO()
    Image.new("L", (10, 10), 99).save(encoded, kind)
    data = encoded.getvalue()
    if kind == "PNG":
        return data[:33] + struct.pack(">I4sI", 0, b"abCd", zlib.crc32(b"abCd")) * steps + data[33:]
    if kind == "JPEG":
        return data[:2] + b"\xff" * steps + data[2:]
    colours = 3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0
    return data[: 13 + colours] + b"\x21\xfe" + b"\x01x" * steps + b"\x00" + data[13 + colours :]


def side(bytes_per_pixel: float, budget: int = MAX_DECODED_BYTES) -> int:
    """The side of the largest square that the decoding budget accepts at this many bytes a pixel."""
    return math.isqrt(int(budget / bytes_per_pixel)) // 8 * 8


def rgba(height: int, width: int) -> np.ndarray:
    pixels = picture(height, width, 4)
    pixels[..., 3] = np.where(np.arange(width) % 512 < 256, 255, 96).astype(np.uint8)  # stripes of transparency
    return pixels


def save(pixels: np.ndarray, path: Path, mode: str | None = None, **options) -> None:
    Image.fromarray(pixels, mode).save(path, **options)


GREY, GREY16, RGB, RGBA, RGB16, WEBP = side(1), side(2), side(3), side(4), side(6), side(4 * 3)
TIFF_F, TIFF_RGB = side(4 * 2), side(3 * 2)
PROGRESSIVE = side(3.01, MAX_JPEG_COEFFICIENT_BYTES)  # 4:2:0: 2 bytes a sample of coefficients, 1.5 samples a pixel
POSTERS = {
    "data set poster (182 x 268 JPEG)": lambda path: path.write_bytes(REAL_POSTER.read_bytes()),
    "PNG 16-bit grey 10,900^2 (the issue's)": lambda path: png(path, picture(10_900, 10_900, 1, noise=0)[..., 0] * np.uint16(257)),
    f"PNG 16-bit grey {GREY16:,}^2 (largest accepted)": lambda path: png(path, picture(GREY16, GREY16, 1, 2)[..., 0] * np.uint16(257)),
    "PNG 8-bit grey 10,954^2 (most pixels)": lambda path: png(path, picture(10_954, 10_954, 1)[..., 0]),
    f"PNG 8-bit grey {GREY:,}^2 (largest accepted)": lambda path: png(path, picture(GREY, GREY, 1)[..., 0]),
    "PNG RGBA 10,000^2": lambda path: png(path, rgba(10_000, 10_000)),
    f"PNG RGBA {RGBA:,}^2 (largest accepted)": lambda path: png(path, rgba(RGBA, RGBA)),
    "PNG RGB 2,764 x 4,096 (a 4K poster)": lambda path: png(path, picture(4_096, 2_764)),
    f"PNG RGB {RGB:,}^2 (largest accepted)": lambda path: png(path, picture(RGB, RGB)),
    f"PNG 16-bit RGB {RGB16:,}^2 (largest accepted)": lambda path: png(path, picture(RGB16, RGB16) * np.uint16(257)),
    "PNG palette+transparency 10,954^2": lambda path: Image.fromarray(picture(10_954, 10_954, 1, noise=0)[..., 0]).convert("P").save(
        path, transparency=0, compress_level=1),
    f"PNG palette+transparency {RGBA:,}^2 (largest accepted)": lambda path: Image.fromarray(picture(RGBA, RGBA, 1)[..., 0]).convert(
        "P").save(path, transparency=0, compress_level=1),
    "TIFF float32 10,000^2": lambda path: Image.new("F", (10_000, 10_000), 0.5).save(path, compression="tiff_adobe_deflate"),
    f"TIFF float32 {TIFF_F:,}^2 (largest accepted)": lambda path: save(
        picture(TIFF_F, TIFF_F, 1)[..., 0].astype(np.float32) / 255, path, compression="tiff_adobe_deflate"),
    f"TIFF RGB {TIFF_RGB:,}^2 in one strip (largest accepted)": lambda path: save(
        picture(TIFF_RGB, TIFF_RGB), path, compression="tiff_adobe_deflate", strip_size=2**31 - 1),
    "JPEG 10,000^2": lambda path: save(picture(10_000, 10_000, noise=4), path, quality=85),
    "JPEG 10,954^2 (most pixels)": lambda path: save(picture(10_954, 10_954, noise=4), path, quality=85),
    "JPEG 6,000^2 noisy, quality 95": lambda path: save(picture(6_000, 6_000, noise=64), path, quality=95),
    "JPEG CMYK 10,000^2": lambda path: save(picture(10_000, 10_000, 4, noise=4), path, "CMYK", quality=85),
    "JPEG progressive 10,000^2": lambda path: save(picture(10_000, 10_000, noise=4), path, progressive=True),
    "JPEG progressive 4:4:4 6,000^2": lambda path: save(picture(6_000, 6_000, noise=4), path, progressive=True, subsampling=0),
    f"JPEG progressive {PROGRESSIVE:,}^2 (largest accepted)": lambda path: save(
        picture(PROGRESSIVE, PROGRESSIVE, noise=4), path, progressive=True),
    "WebP 16,383 x 8,000": lambda path: save(picture(8_000, 16_383), path, quality=80),
    f"WebP {WEBP:,}^2 (largest accepted)": lambda path: save(picture(WEBP, WEBP), path, quality=80),
    f"WebP RGBA {WEBP:,}^2 lossless (largest accepted)": lambda path: save(rgba(WEBP, WEBP), path, lossless=True),
    f"BMP 24-bit {RGB:,}^2 (largest accepted)": lambda path: save(picture(RGB, RGB), path),
    "BMP RLE 3,000^2, one pixel a row": lambda path: path.write_bytes(rle_bmp(3_000)),
    "BMP RLE 1,000^2, one pixel a row (largest accepted)": lambda path: path.write_bytes(rle_bmp(1_000)),
    "PNG of 4,000,000 empty chunks": lambda path: path.write_bytes(structure_bomb("PNG", 4_000_000)),
    "JPEG after 48,000,000 fill bytes": lambda path: path.write_bytes(structure_bomb("JPEG", 48_000_000)),
    "GIF after a comment of 24,000,000 blocks": lambda path: path.write_bytes(structure_bomb("GIF", 24_000_000)),
    "GIF animated 8,000^2, 2 frames": lambda path: Image.fromarray(picture(8_000, 8_000, 1)[..., 0]).save(
        path, save_all=True, append_images=[Image.new("L", (8_000, 8_000), 30)]),
    f"GIF animated {RGBA:,}^2, 2 frames (largest accepted)": lambda path: Image.fromarray(picture(RGBA, RGBA, 1)[..., 0]).save(
        path, save_all=True, append_images=[Image.new("L", (RGBA, RGBA), 30)]),
}
SUFFIXES = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "WebP": ".webp", "BMP": ".bmp", "GIF": ".gif", "data": ".jpg"}


def measure(root: Path, path: Path, runs: int, timeout: float) -> dict:
    results = []
    for _ in range(runs):
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(path)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"outcome": "timed out", "message": f"still decoding after {timeout:.0f} s", "seconds": timeout, "cpu": math.nan,
                    "extra_mb": math.nan}
        if done.returncode != 0:
            return {"outcome": "crashed", "message": done.stderr.strip().splitlines()[-1], "seconds": math.nan, "cpu": math.nan,
                    "extra_mb": math.nan}
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {key: statistics.median(result[key] for result in results) for key in ("seconds", "cpu", "extra_mb")}
    return {**results[0], **median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per poster; the table shows medians")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose genre_hf decodes")
    parser.add_argument("--keep", type=Path, help="write the posters here (and reuse them) instead of a temp folder")
    parser.add_argument("--only", help="only posters whose name contains this text")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a decode counts as timed out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        print("| poster | file | outcome | extra peak MB | seconds | CPU seconds | message |\n|---|--:|---|--:|--:|--:|---|")
        misses = 0
        for name, write in POSTERS.items():
            if args.only and args.only.lower() not in name.lower():
                continue
            path = folder / (re.sub(r"[^0-9a-zA-Z]+", "-", name).strip("-") + SUFFIXES[name.split()[0]])
            if not path.exists():
                write(path)
            result = measure(args.root, path, args.runs, args.timeout)
            over = result["outcome"] == "accepted" and (result["extra_mb"] > TARGET_MB or result["seconds"] > TARGET_S)
            misses += over or result["outcome"] in ("crashed", "timed out")
            message = result["message"].replace(f"the poster file {path} ", "")
            print(f"| {name} | {path.stat().st_size / 1e6:,.1f} MB | {result['outcome']}{' (over target)' if over else ''} | "
                  f"{result['extra_mb']:,.0f} | {result['seconds']:.2f} | {result['cpu']:.2f} | {message} |", flush=True)
        print(f"\n{misses} poster(s) over {TARGET_MB} MB or {TARGET_S} s, crashed or timed out")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s in all)")
