"""The overview BiLSTM on `TextVectorization` tokens, trained from scratch: the reference family's text encoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre_hf.modeling.encoders._base import FLOAT, TOKENS_INPUT, Encoder, EncoderSettings
from genre_hf.settings import setting

NO_KNOWN_WORD = (
    "None of the overview's words are in the model's vocabulary (it learned from English IMDb overviews), "
    "so the overview models can only give the genres' base rates."
)


@dataclass
class OverviewLstmSettings(EncoderSettings):
    kind: str = setting("lstm", choices=("lstm",))
    word_dimension: int = setting(64, 1, 1024)  # the word embedding's
    units: int = setting(48, 1, 1024)  # the LSTM's, each way
    embedding: int = setting(128, 1, 2048)  # the trunk's output (and the bag of words' projection)
    dropout: float = setting(0.4, 0.0, 0.95)
    spatial_dropout: float = setting(0.2, 0.0, 0.95)
    bag_of_words: bool = setting(True)
    bag_of_words_l2: float = setting(1e-5, 0.0, 1.0)
    epochs: int = setting(20, 1, 1000)


class OverviewLstm(Encoder):
    """Token ids -> a masked BiLSTM (fused: see layers.FusedBiLSTM) pooled over time, plus a bag of words;
    trained from scratch.

    The bag-of-words shortcut gives the linear word evidence that a TF-IDF model thrives on, which
    an LSTM trained from scratch on 5k overviews struggles to learn alone.
    """

    modality, kind, title, input_name = "overview", "lstm", "Overview LSTM", TOKENS_INPUT
    Settings = OverviewLstmSettings

    @property
    def head_dropout(self) -> float:
        return self.settings.dropout

    def input_spec(self):
        return (self.tokenizer.sequence_length,), "int32"

    def features(self, texts: list[str]) -> np.ndarray:
        return self.tokenizer(texts)

    def notes(self, texts: list[str]) -> list[list[str]]:
        notes = []
        for text, tokens in zip(texts, self.features(texts)):
            words = len(text.split())
            if not (tokens > 1).any():  # 0 pads, 1 is out of vocabulary
                notes.append([NO_KNOWN_WORD])
            elif words > len(tokens):
                notes.append([f"The overview has {words:,} words; the overview models read the first {len(tokens)}."])
            else:
                notes.append([])
        return notes

    def trunk(self, tokens):
        import keras
        from keras import layers

        from genre_hf.modeling.layers import FusedBiLSTM, MaskedMean, MultiHot

        settings, size = self.settings, len(self.tokenizer.vocabulary)
        x = layers.Embedding(size, settings.word_dimension, mask_zero=True, name="word_embedding")(tokens)
        x = layers.SpatialDropout1D(settings.spatial_dropout, name="word_dropout")(x)
        x = FusedBiLSTM(settings.units, name="bilstm")(x)
        features = [MaskedMean(name="lstm_mean")(x)]
        if settings.bag_of_words:
            bag = MultiHot(size, name="bag_of_words")(tokens)
            regularizer = keras.regularizers.L2(settings.bag_of_words_l2)
            features.append(layers.Dense(settings.embedding, kernel_regularizer=regularizer, name="bag_projection")(bag))
        x = layers.Concatenate(name="text_features")(features)
        x = layers.Dropout(settings.dropout, name="text_dropout")(x)
        return layers.Dense(settings.embedding, activation="relu", name="overview_embedding")(x)

    def card_facts(self) -> dict:
        return {"title": self.title, "description": (
            f"the overview tokenized by Keras `TextVectorization` ({len(self.tokenizer.vocabulary):,} tokens, "
            f"{self.tokenizer.sequence_length} tokens per overview), a masked bidirectional LSTM ({self.settings.units} units "
            f"each way){' with a bag-of-words shortcut' if self.settings.bag_of_words else ''}, trained from scratch.")}

    @classmethod
    def embedding_size(cls, settings) -> int:
        return settings.embedding

    @classmethod
    def trunk_weights(cls, settings, vocabulary: int) -> int:
        e, u, t = settings.word_dimension, settings.units, settings.embedding
        lstm = 2 * (4 * u * (e + u) + 4 * u)
        bag = vocabulary * t + t if settings.bag_of_words else 0
        return vocabulary * e + lstm + bag + (2 * u + (t if settings.bag_of_words else 0)) * t + t

    @classmethod
    def pass_bytes(cls, settings, tokens) -> int:
        words = FLOAT * tokens.sequence_length * (2 * settings.word_dimension + 2 * settings.units)
        return words + (FLOAT * tokens.max_tokens if settings.bag_of_words else 0)  # the bag of words, vocabulary wide

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return FLOAT * (tokens.sequence_length or 128)  # before training chooses it: a guess
