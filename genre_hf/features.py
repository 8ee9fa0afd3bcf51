"""Overviews to token ids, genre lists to multi-hot rows, and movies to the named arrays models read.

Training and prediction call the same `Featurizer`, so a movie is prepared the same way in both;
each poster is decoded and each overview encoded once, then reused by every epoch of every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.encoders import TOKENS_INPUT, Encoder
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


class Tokenizer:
    """Keras `TextVectorization` over a saved vocabulary: overviews -> token ids (0 pads, 1 is unknown).

    The LSTM and the wide TF-IDF path read these ids. The vocabulary is adapted on the training
    overviews only and saved as `vocabulary.txt`, one token a line.
    """

    def __init__(self, config: GenreConfig, vocabulary: list[str]):
        self.config, self.vocabulary = config, list(vocabulary)
        self._layer = None  # built on first use: it imports TensorFlow

    @classmethod
    def adapt(cls, config: GenreConfig, texts: list[str]) -> "Tokenizer":
        import tensorflow as tf

        layer = _vectorizer(config)
        layer.adapt(tf.data.Dataset.from_tensor_slices(tf.constant(texts)).batch(512))
        return cls(config, [str(token) for token in layer.get_vocabulary()])

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Token ids, N x sequence_length int32."""
        import tensorflow as tf

        if not texts:
            return np.zeros((0, self.config.sequence_length), np.int32)
        if self._layer is None:
            self._layer = _vectorizer(self.config, self.vocabulary)
        return self._layer(tf.constant(texts, dtype=tf.string)).numpy().astype(np.int32)

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.vocabulary) + "\n", encoding="utf-8")

    @staticmethod
    def read(path: str | Path) -> list[str]:
        tokens = Path(path).read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return tokens


def _vectorizer(config: GenreConfig, vocabulary: list[str] | None = None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=config.max_tokens,
        output_mode="int",
        output_sequence_length=config.sequence_length,
        vocabulary=vocabulary,
        name="overview_vectorizer",
    )


class Featurizer:
    """Decoded posters and overview strings -> {model input name: array}, for any family.

    Each encoder turns its modality into its input; the wide TF-IDF path reads token ids too, which
    are computed once when the LSTM reads them as well.
    """

    def __init__(self, config: GenreConfig, encoders: dict[str, Encoder], tokenizer: Tokenizer):
        self.config, self.encoders, self.tokenizer = config, encoders, tokenizer

    @property
    def image_size(self) -> int:
        return self.encoders["poster"].image_size

    def poster_inputs(self, decoded: np.ndarray) -> dict[str, np.ndarray]:
        encoder = self.encoders["poster"]
        return {encoder.input_name: encoder.features(decoded)}

    def overview_inputs(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoder = self.encoders["overview"]
        inputs = {encoder.input_name: encoder.features(texts)}
        if self.config.wide_tfidf and TOKENS_INPUT not in inputs:
            inputs[TOKENS_INPUT] = self.tokenizer(texts)
        return inputs

    def blank_inputs(self, modality: str, count: int) -> dict[str, np.ndarray]:
        """Zeros in place of a missing modality (the fusion model ignores them: see models.ModalityGate)."""
        names = [self.encoders[modality].input_name] + ([TOKENS_INPUT] if modality == "overview" and self.config.wide_tfidf else [])
        specs = self.input_specs()
        return {name: np.zeros((count, *specs[name][0]), specs[name][1]) for name in names}

    def input_specs(self) -> dict[str, tuple[tuple, str]]:
        specs = {encoder.input_name: encoder.input_spec() for encoder in self.encoders.values()}
        if self.config.wide_tfidf:
            specs[TOKENS_INPUT] = ((self.config.sequence_length,), "int32")
        return specs


@dataclass
class MovieFeatures:
    """One split as model-ready arrays, computed once and reused by every model and epoch."""

    ids: list[str]
    inputs: dict[str, np.ndarray]  # model input name -> N x ...
    labels: np.ndarray  # N x G float32

    def __len__(self) -> int:
        return len(self.ids)


def movie_features(movies, featurizer: Featurizer) -> MovieFeatures:
    """Inputs and labels of a cleaned `datasets.Dataset` (see genre_hf.data)."""
    from datasets import Image as ImageFeature

    posters = movies.cast_column("poster", ImageFeature(decode=False))["poster"]
    inputs = featurizer.poster_inputs(posters_to_array(posters, featurizer.image_size))
    inputs.update(featurizer.overview_inputs(list(movies["overview"])))
    return MovieFeatures(list(movies["id"]), inputs, multi_hot(movies["genres"], featurizer.config.genres))
