"""Overviews to token ids with Keras `TextVectorization` over a vocabulary adapted on the training split.

The LSTM and the wide TF-IDF path read these ids. The vocabulary is saved as `vocabulary.txt`, one
token a line (0 pads, 1 is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf.settings import setting


@dataclass
class TokenSettings:
    """config.json's `tokens`: the vocabulary and how much of an overview the token ids cover."""

    max_tokens: int = setting(20000, 3, 200_000)
    # 0: chosen from the data at training, as the `sequence_percentile` percentile of the training
    # overviews' lengths in words (a trained model's is positive).
    sequence_length: int = setting(0, 0, 1024)
    sequence_percentile: float = setting(99.0, 1.0, 100.0)


class Tokenizer:
    def __init__(self, settings: TokenSettings, vocabulary: list[str]):
        self.settings, self.vocabulary = settings, list(vocabulary)
        self._layer = None  # built on first use: it imports TensorFlow

    @property
    def sequence_length(self) -> int:
        return self.settings.sequence_length

    @classmethod
    def adapt(cls, settings: TokenSettings, texts) -> "Tokenizer":
        """The vocabulary of `texts` (a list, or any iterable read once, 512 at a time: a stream too)."""
        import tensorflow as tf

        def batches():
            batch = []
            for text in texts:
                batch.append(text)
                if len(batch) == 512:
                    yield tf.constant(batch)
                    batch = []
            if batch:
                yield tf.constant(batch)

        layer = _vectorizer(settings)
        layer.adapt(batches())
        return cls(settings, [str(token) for token in layer.get_vocabulary()])

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Token ids, N x sequence_length int32."""
        import tensorflow as tf

        if not texts:
            return np.zeros((0, self.sequence_length), np.int32)
        if self._layer is None:
            self._layer = _vectorizer(self.settings, self.vocabulary)
        return self._layer(tf.constant(texts, dtype=tf.string)).numpy().astype(np.int32)

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.vocabulary) + "\n", encoding="utf-8")


def _vectorizer(settings: TokenSettings, vocabulary: list[str] | None = None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=settings.max_tokens,
        output_mode="int",
        output_sequence_length=settings.sequence_length or None,  # 0: not chosen yet (adapting)
        vocabulary=vocabulary,
        name="overview_vectorizer",
    )
