"""Overviews to token ids over a vocabulary adapted on the training split by Keras `TextVectorization`.

The LSTM and the wide TF-IDF path read these ids. The vocabulary is saved as `vocabulary.txt`, one
token a line (0 pads, 1 is unknown). Adapting it (training) runs `TextVectorization`; turning texts
into ids is its default standardize, split and look-up done in plain Python (`ids`), so a prediction
needs no TensorFlow: ASCII letters lowercased (`tf.strings.lower` leaves others alone), the ASCII
punctuation of its regex removed, the text cut on ASCII whitespace, each word looked up (1 when
unknown), cut or padded to the sequence length. tests/test_litert.py holds it to `TextVectorization`'s
ids on every overview of the data.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf.settings import setting


@dataclass
class TokenSettings:
    """config.json's `tokens`: the vocabulary and how much of an overview the token ids cover."""

    max_tokens: int = setting(20000, 3, 200_000)
    # 0: chosen from the data at training, as the `sequence_percentile` percentile of the training
    # overviews' lengths in words (a trained model's is positive). At most 512: the LSTM runs unrolled
    # on LiteRT, so its conversion grows with it (an IMDb overview has about 26 words).
    sequence_length: int = setting(0, 0, 512)
    sequence_percentile: float = setting(99.0, 1.0, 100.0)


# TextVectorization's "lower_and_strip_punctuation": tf.strings.lower (ASCII only), then its regex's characters removed.
STANDARDIZE = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'")
WHITESPACE = re.compile("[ \t\n\v\f\r]+")  # tf.strings.split's default separator: runs of ASCII whitespace
UNKNOWN = 1


class Tokenizer:
    def __init__(self, settings: TokenSettings, vocabulary: list[str]):
        self.settings, self.vocabulary = settings, list(vocabulary)
        self._index = None  # token -> id, made on first use

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
        if self._index is None:
            self._index = {token: index for index, token in enumerate(self.vocabulary) if token}
        length, index = self.sequence_length, self._index
        ids = np.zeros((len(texts), length), np.int32)
        for row, text in enumerate(texts):
            words = [word for word in WHITESPACE.split(text.translate(STANDARDIZE)) if word][:length]
            ids[row, : len(words)] = [index.get(word, UNKNOWN) for word in words]
        return ids

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
