"""A pretrained KerasHub text backbone, frozen: the pretrained family's overview encoder.

Each overview is embedded once, before the models (training caches the embeddings and never updates
the backbone, so its weights are never copied into a model folder): the attention-mask mean of
chosen layers' states, each scaled to unit length, concatenated. Only this encoder imports keras_hub
for text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genre_hf.modeling.encoders._base import FLOAT
from genre_hf.modeling.encoders._frozen import remembered
from genre_hf.modeling.encoders._preset import KerasHubPreset, PresetSettings
from genre_hf.modeling.traced import traced
from genre_hf.settings import setting

BATCH = 64  # overviews a backbone pass reads at most
# ...and word pieces, padding included: the longest overviews go in smaller batches, which pad less. Over
# the 542 test overviews cut in 20 batches instead of 9 of 64: 19,319 word pieces instead of 20,872, 1.07x
# the speed; over training's chunks of 256 (featurizer.CHUNK), 157,933 instead of 181,800.
BATCH_TOKENS = 1024


DEFAULT_PRESET = "hf://sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class KerasHubTextSettings(PresetSettings):
    preset: str = setting(DEFAULT_PRESET, chars=500)
    sequence_length: int = setting(128, 8, 512)  # WordPiece tokens, [CLS] and [SEP] included
    # Every layer's attention-mask mean (0 = embeddings), each scaled to unit length and concatenated:
    # genre cues sit in the middle layers as much as in the last, and the unit scale keeps one layer
    # from drowning the others (measured: docs/families.md).
    layers: list[int] = setting([1, 2, 3, 4, 5, 6], length=(1, 25), items=(0, 48))
    normalize_layers: bool = setting(True)
    epochs: int = setting(20, 1, 1000)

    def trained_rules(self) -> list[str]:
        if super().trained_rules() or self.embedding_dim % len(self.layers):
            return ["embedding_dim must be positive and split evenly over layers in a trained model"]
        return []


class KerasHubText(KerasHubPreset):
    """A pretrained KerasHub text backbone given by a preset (default: the Hub's
    sentence-transformers/all-MiniLM-L6-v2), frozen: the mean-pooled states of chosen layers are the
    model input, and a trained dense layer on them is the trunk.
    """

    modality, input_name, role = "overview", "overview_features", "text encoder"
    Settings = KerasHubTextSettings

    @classmethod
    def pinned(cls, settings):
        settings = super().pinned(settings)
        return replace(settings, embedding_dim=cls._embedder_of(settings).dimension)

    @classmethod
    def _embedder_of(cls, settings, layers: tuple[int, ...] | None = None) -> "TextEmbedder":
        folder = cls.resolved(settings)[0]
        return embedder_for(folder, settings.sequence_length, layers or tuple(settings.layers), settings.normalize_layers)

    def _embedder(self, layers: tuple[int, ...] | None = None) -> "TextEmbedder":
        return self._embedder_of(self.settings, layers)

    def feature_settings(self) -> list:
        return [self.settings.layers, self.settings.normalize_layers, self.settings.sequence_length]

    def features(self, texts: list[str]) -> np.ndarray:
        return self._embedder()(texts)

    def sentence_span(self) -> tuple[int, int]:
        """The deepest pooled layer's mean: the sentence embedding (the last of the concatenated layers)."""
        size = self.settings.embedding_dim // len(self.settings.layers)
        return (len(self.settings.layers) - 1) * size, size

    def sentence_embeddings(self, texts: list[str]) -> np.ndarray:
        """The backbone's usual sentence embedding (last layer, mean-pooled), for the logistic-regression
        baseline; taken from `features` when the last layer is among the pooled ones."""
        embedder = self._embedder()
        hidden = embedder.dimension // len(self.settings.layers)
        last = embedder.num_layers
        if last in self.settings.layers:
            start = self.settings.layers.index(last) * hidden
            return self.features(texts)[:, start : start + hidden]
        return self._embedder((last,))(texts)

    def notes(self, texts: list[str]) -> list[list[str]]:
        lengths = [len(ids) for ids in self._embedder().token_ids(texts)]
        limit = self.settings.sequence_length
        return [[f"The overview is longer than the {limit} word pieces the overview models read; the rest is ignored."]
                if length >= limit else [] for length in lengths]

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return FLOAT * (settings.embedding_dim or 384 * len(settings.layers))  # before training records it: MiniLM's width


class TextEmbedder:
    """A frozen backbone: overviews -> the attention-mask mean of chosen layers' states, each scaled
    to unit length when `normalize` (so no layer outweighs the others), concatenated.

    Layer 0 is the embedding output, 1..N the transformer layers. Overviews are sorted by length
    and padded per batch (`length_batches`), which on ~40-token overviews is several times faster
    than fixed padding.
    """

    def __init__(self, folder: Path, sequence_length: int, layers: list[int], normalize: bool = True):
        import keras
        import keras_hub
        import tensorflow as tf

        # tokenizer.json's normalizer strips accents for uncased models; from_preset does not by itself.
        # Outside tf.function KerasHub runs WordPiece in Python unless told otherwise; TensorFlow Text's
        # FastWordpiece gives the same ids (every overview of the shared data) about 6x faster.
        self.tokenizer = keras_hub.models.Tokenizer.from_preset(str(folder), strip_accents=True,
                                                                _allow_python_workflow=not _tensorflow_text_imports())
        backbone = keras_hub.models.Backbone.from_preset(str(folder))
        names = [self._layer_name(backbone, layer) for layer in layers]
        model = keras.Model(backbone.inputs, [backbone.get_layer(name).output for name in names])
        self.sequence_length, self.dimension = sequence_length, backbone.hidden_dim * len(layers)
        self.num_layers = backbone.num_layers
        self.special = (self.tokenizer.cls_token_id, self.tokenizer.sep_token_id)
        self._memory: dict[str, np.ndarray] = {}  # training embeds each overview for the models and the baseline
        self._token_memory: dict[str, list[int]] = {}  # predict reads each overview's length too (notes): tokenized once

        @traced([tf.TensorSpec([None, None], tf.int32)])
        def pooled(tokens):
            mask = tf.cast(tokens != 0, tf.int32)
            states = model({"token_ids": tokens, "segment_ids": tf.zeros_like(tokens), "padding_mask": mask}, training=False)
            weights = tf.expand_dims(tf.cast(mask, tf.float32), -1)  # not [..., None]: TFLite lacks that slice
            means = [tf.reduce_sum(s * weights, 1) / tf.reduce_sum(weights, 1) for s in (states if len(names) > 1 else [states])]
            if normalize:
                means = [tf.math.l2_normalize(mean, axis=-1) for mean in means]
            return tf.concat(means, axis=-1)

        self._pooled = pooled

    @staticmethod
    def _layer_name(backbone, layer: int) -> str:
        count = backbone.num_layers
        if not 0 <= layer <= count:
            raise ValueError(f"text layer {layer} does not exist: the backbone has layers 0 (embeddings) to {count}")
        return "embeddings_layer_norm" if layer == 0 else f"transformer_layer_{layer - 1}"

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] and [SEP], cut to the sequence length; each distinct text is
        tokenized once per process (up to `_frozen.MEMORY` of them), though predict reads the ids twice (the
        embedding, and the note on a cut overview)."""
        cls, sep = self.special
        return remembered(self._token_memory, texts, texts, lambda new: [
            [cls, *np.asarray(ids).tolist()[: self.sequence_length - 2], sep] for ids in self.tokenizer(new)])

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, N x dimension; each distinct overview is embedded once per process
        (up to `_frozen.MEMORY` of them), so a training run's second pass over its overviews costs nothing."""
        return np.stack(remembered(self._memory, texts, texts, self._embed)) if texts else np.zeros((0, self.dimension), np.float32)

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = self.token_ids(texts)
        embeddings = np.zeros((len(ids), self.dimension), np.float32)
        for rows in length_batches([len(x) for x in ids]):
            embeddings[rows] = self._pooled(padded_tokens(ids, rows)).numpy()
        return embeddings


def padded_tokens(ids: list[list[int]], rows) -> np.ndarray:
    """The token ids of `rows`, zero-padded to the longest of them: one backbone batch."""
    tokens = np.zeros((len(rows), max(len(ids[i]) for i in rows)), np.int32)
    for row, index in enumerate(rows):
        tokens[row, : len(ids[index])] = ids[index]
    return tokens


def length_batches(lengths: list[int], most: int = BATCH, tokens: int = BATCH_TOKENS) -> list[np.ndarray]:
    """Row indices in order of length, cut into batches of at most `most` rows whose padded size (rows
    x the longest) stays within `tokens` (a row longer than that goes alone)."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < most and (end - start + 1) * lengths[order[end]] <= tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def _tensorflow_text_imports() -> bool:
    """tensorflow-text 2.21.0 is installed but fails to import (undefined symbol icudt77_dat,
    tensorflow/text#1541): KerasHub's Python WordPiece then stands in for it."""
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def embedder_for(folder: Path, sequence_length: int, layers: tuple[int, ...], normalize: bool = True) -> TextEmbedder:
    """One backbone per preset and settings in a process, shared by every classifier that uses it."""
    return TextEmbedder(folder, sequence_length, list(layers), normalize)
