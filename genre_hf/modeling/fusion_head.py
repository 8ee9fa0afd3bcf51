"""The fusion model's own layers, as one Keras layer that owns them (its settings: `fusion.py`)."""

from __future__ import annotations

import keras
from keras import layers

from genre_hf.modeling.encoders._base import TOKENS_INPUT
from genre_hf.modeling.fusion import MODALITIES_INPUT, FusionSettings, reads_features, votes
from genre_hf.modeling.layers import ModalityDropout, NeighbourGenres, TfIdf


class FusionHead(layers.Layer):
    """Everything the fusion model has after the trunks; returns the genres' logits.

    It reads what the trunks give (each modality's embedding, or a frozen encoder's features whole:
    `fusion.reads_features`), which modalities a movie has, and the token ids for the wide path. Both
    embeddings, gated by which modalities a movie has, go into a joint head; from scratch a wide
    TF-IDF layer adds the overview's linear word evidence (on 5k movies what a deep text branch learns
    worst); with a frozen text encoder a neighbour vote adds the genres of the nearest training
    overviews. The layers it makes are its attributes, made in a fixed order, so the weights file
    names them; `models.build_models` applies it once in the whole graph and
    `GenreNetwork.fusion_head` again on stored embeddings: the same layer, the same weights.
    """

    def __init__(self, settings: FusionSettings, encoders: dict, genres: int, vocabulary_size: int, seed: int = 0, **kwargs):
        super().__init__(name="fusion_head", **kwargs)
        self.settings = settings
        self.feature_dropouts = {modality: layers.Dropout(encoder.feature_dropout, name=f"fusion_{modality}_dropout")
                                 for modality, encoder in encoders.items() if reads_features(settings, encoder)}
        self.neighbours = None
        if votes(settings, encoders):
            start, size = encoders["overview"].sentence_span()
            self.neighbours = NeighbourGenres(settings.neighbour_index_size, start, size, genres, settings.neighbour_k,
                                              settings.neighbour_temperature, name="neighbour_genres")
        self.gate = ModalityDropout(settings.modality_dropout, seed=seed, name="modality_dropout")
        self.joint_dropout = layers.Dropout(settings.dropout, name="joint_dropout")
        self.hidden = layers.Dense(settings.hidden, activation="relu", name="fusion_hidden")
        self.hidden_dropout = layers.Dropout(settings.dropout, name="fusion_head_dropout")
        self.deep_logits = layers.Dense(genres, name="deep_logits")
        self.tfidf = self.wide_logits = None
        if settings.wide_tfidf:
            self.tfidf = TfIdf(vocabulary_size, settings.wide_scale, name="tfidf")
            regularizer = keras.regularizers.L2(settings.wide_l2 * settings.wide_scale**2)
            self.wide_logits = layers.Dense(genres, kernel_regularizer=regularizer, name="wide_logits")

    @property
    def input_names(self) -> list[str]:
        """What it reads (besides "poster" and "overview"): which modalities a movie has, and the token ids for the wide path."""
        return [MODALITIES_INPUT] + ([TOKENS_INPUT] if self.tfidf is not None else [])

    def call(self, inputs: dict, training=None):
        poster, text = (self.feature_dropouts[m](inputs[m], training=training) if m in self.feature_dropouts else inputs[m]
                        for m in ("poster", "overview"))
        if self.neighbours is not None:  # before the gate, which blanks it with the overview
            text = keras.ops.concatenate([text, self.neighbours(inputs["overview"])], axis=-1)
        poster, text, keep_text = self.gate([poster, text, inputs[MODALITIES_INPUT]], training=training)
        x = self.joint_dropout(keras.ops.concatenate([poster, text], axis=-1), training=training)
        x = self.hidden_dropout(self.hidden(x), training=training)
        logits = self.deep_logits(x)
        if self.tfidf is not None:  # no overview, no word evidence
            logits = logits + self.wide_logits(self.tfidf(inputs[TOKENS_INPUT])) * keep_text
        return logits

    def set_statistics(self, train_inputs: dict, train_labels, overview_input: str) -> None:
        """What the head learns from the training split rather than by gradient: the TF-IDF layer's IDF
        and the neighbour vote's index (its movies' features and genres)."""
        if self.tfidf is not None:
            self.tfidf.set_idf(train_inputs[TOKENS_INPUT])
        if self.neighbours is not None:
            self.neighbours.set_index(train_inputs[overview_input], train_labels)
