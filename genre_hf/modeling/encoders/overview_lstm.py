"""The overview BiLSTM on `TextVectorization` tokens, trained from scratch: the reference family's text encoder."""

from __future__ import annotations

import numpy as np

from genre_hf.modeling.encoders import register_encoder
from genre_hf.modeling.encoders._base import TOKENS_INPUT, Encoder

NO_KNOWN_WORD = (
    "None of the overview's words are in the model's vocabulary (it learned from English IMDb overviews), "
    "so the overview models can only give the genres' base rates."
)


@register_encoder
class OverviewLstm(Encoder):
    """Token ids -> a masked BiLSTM (fused: see layers.FusedBiLSTM) pooled over time, plus a bag of words;
    trained from scratch.

    The bag-of-words shortcut gives the linear word evidence that a TF-IDF model thrives on, which
    an LSTM trained from scratch on 5k overviews struggles to learn alone.
    """

    modality, kind, title, input_name = "overview", "lstm", "Overview LSTM", TOKENS_INPUT

    @property
    def head_dropout(self) -> float:
        return self.config.text_dropout

    def input_spec(self):
        return (self.config.sequence_length,), "int32"

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

        from genre_hf.modeling.layers import FusedBiLSTM, MaskedMean

        config, size = self.config, len(self.tokenizer.vocabulary)
        x = layers.Embedding(size, config.embedding_dim, mask_zero=True, name="word_embedding")(tokens)
        x = layers.SpatialDropout1D(config.spatial_dropout, name="word_dropout")(x)
        x = FusedBiLSTM(config.lstm_units, name="bilstm")(x)
        features = [MaskedMean(name="lstm_mean")(x)]
        if config.bag_of_words:
            bag = layers.CategoryEncoding(size, output_mode="multi_hot", name="bag_of_words")(tokens)
            regularizer = keras.regularizers.L2(config.bag_of_words_l2)
            features.append(layers.Dense(config.text_embedding, kernel_regularizer=regularizer, name="bag_projection")(bag))
        x = layers.Concatenate(name="text_features")(features)
        x = layers.Dropout(config.text_dropout, name="text_dropout")(x)
        return layers.Dense(config.text_embedding, activation="relu", name="overview_embedding")(x)
