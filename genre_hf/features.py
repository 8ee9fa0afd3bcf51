"""Overviews to token ids, genre lists to multi-hot rows, and a split as model-ready arrays.

Training and prediction call the same functions, so an overview is prepared the same way in both;
posters come from genre_hf.posters, decoded and resized once, then reused by every epoch of every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.posters import posters_to_array


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
