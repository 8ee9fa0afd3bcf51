"""Posters to 64x64 arrays, overviews to token ids, genre lists to multi-hot rows.

Training and prediction call the same functions, so a poster or an overview is prepared the same
way in both; each poster is decoded and resized once, then reused by every epoch of every model.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from genre_hf.config import GenreConfig

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


def multi_hot(genre_lists, genres: list[str]) -> np.ndarray:
    """Rows of 0/1 per genre; genres outside the vocabulary are ignored."""
    index = {genre: i for i, genre in enumerate(genres)}
    labels = np.zeros((len(genre_lists), len(genres)), dtype=np.float32)
    for row, movie_genres in enumerate(genre_lists):
        for genre in movie_genres:
            if genre in index:
                labels[row, index[genre]] = 1.0
    return labels


def choose_sequence_length(texts, percentile: float) -> int:
    """Cover `percentile` % of overviews in full; overviews average ~26 words, so 200 is waste."""
    lengths = [len(text.split()) for text in texts]
    return max(8, int(np.ceil(np.percentile(lengths, percentile))))


def make_vectorizer(config: GenreConfig, vocabulary: list[str] | None = None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=config.max_tokens,
        output_mode="int",
        output_sequence_length=config.sequence_length,
        vocabulary=vocabulary,
        name="overview_vectorizer",
    )


def adapt_vectorizer(config: GenreConfig, train_texts: list[str]):
    """Fit the vocabulary on the training overviews only (no validation leakage)."""
    import tensorflow as tf

    vectorizer = make_vectorizer(config)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(tf.constant(train_texts)).batch(512))
    return vectorizer


def vectorize(vectorizer, texts: list[str]) -> np.ndarray:
    """Token ids (N x sequence_length, int32); 0 pads, 1 is out of vocabulary."""
    import tensorflow as tf

    if not texts:
        return np.zeros((0, vectorizer._output_sequence_length), np.int32)
    return vectorizer(tf.constant(texts, dtype=tf.string)).numpy().astype(np.int32)


def save_vocabulary(vectorizer, path: str | Path) -> None:
    """A plain text file, one token a line, starting with the padding and OOV tokens."""
    tokens = [str(token) for token in vectorizer.get_vocabulary()]
    Path(path).write_text("\n".join(tokens) + "\n", encoding="utf-8")


def load_vocabulary(path: str | Path) -> list[str]:
    tokens = Path(path).read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return tokens


@dataclass
class MovieArrays:
    """One split as model-ready arrays, computed once and reused by every model and epoch."""

    ids: list[str]
    posters: np.ndarray  # N x S x S x 3 uint8
    tokens: np.ndarray  # N x L int32
    labels: np.ndarray  # N x G float32

    def __len__(self) -> int:
        return len(self.ids)


def movie_arrays(movies, config: GenreConfig, vectorizer) -> MovieArrays:
    """Posters, token ids and labels of a cleaned `datasets.Dataset` (see genre_hf.data)."""
    from datasets import Image as ImageFeature

    posters = movies.cast_column("poster", ImageFeature(decode=False))["poster"]
    return MovieArrays(
        ids=list(movies["id"]),
        posters=posters_to_array(posters, config.image_size),
        tokens=vectorize(vectorizer, list(movies["overview"])),
        labels=multi_hot(movies["genres"], config.genres),
    )
