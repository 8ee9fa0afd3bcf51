"""A pretrained KerasHub image backbone, frozen: a poster encoder (supported, quality unmeasured here).

The preset's own image converter does the preprocessing it was trained with (size, scale, offset),
so nothing here knows about a particular model; the backbone's pooled output is the model input.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from genre_hf.modeling.encoders import register_encoder
from genre_hf.modeling.encoders._preset import KerasHubPreset
from genre_hf.modeling.traced import traced

BATCH = 32  # posters per forward pass: bounds the memory a 224 px backbone takes


@register_encoder
class KerasHubImage(KerasHubPreset):
    """A pretrained KerasHub image backbone given by a preset (`image_preset`), frozen: its pooled
    output (see `ImageEmbedder`) is the model input, and a trained dense layer on it
    is the trunk. The preset's image converter sets the poster size (`image_size`, recorded at
    training) and its preprocessing. Unmeasured here: no image backbone's weights were at hand.
    """

    modality, input_name, prefix, role = "poster", "poster_features", "image", "image encoder"

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def head_dropout(self) -> float:
        return self.config.image_head_dropout

    def input_spec(self):
        return (self.config.image_embedding_dim,), "float32"

    @classmethod
    def pinned_settings(cls, config) -> dict:
        embedder = embedder_for(cls.resolved(config)[0])
        return {**super().pinned_settings(config), "image_embedding_dim": embedder.dimension, "image_size": embedder.image_size}

    def _embedder(self) -> "ImageEmbedder":
        embedder = embedder_for(self.folder)
        if self.pins[1] and embedder.image_size != self.image_size:
            raise ValueError(
                f"the image encoder {self.preset}'s image converter now wants {embedder.image_size} px posters, "
                f"but this model was trained with {self.image_size} px: it needs the preset it was trained with"
            )
        return embedder

    def feature_key(self) -> dict:
        return {"image_encoder": [self.preset, *self.pins]}

    def features(self, posters: np.ndarray) -> np.ndarray:
        return self._embedder()(posters)

    def trunk(self, features):
        from keras import layers

        x = layers.Dropout(self.config.image_input_dropout, name="image_input_dropout")(features)
        return layers.Dense(self.config.image_head_units, activation="relu", name="poster_embedding")(x)


class ImageEmbedder:
    """A frozen backbone: posters (N x S x S x 3 uint8) -> its pooled output, N x dimension float32.

    A feature map (conv backbones such as ResNet: batch x height x width x channels) is averaged
    over its positions; a token sequence (ViT-style backbones) gives its class token, or the mean of
    its tokens when it has none: each what the preset kind's own image classifier pools.
    """

    def __init__(self, folder: Path):
        import keras_hub
        import tensorflow as tf

        converter = keras_hub.layers.ImageConverter.from_preset(str(folder))
        backbone = keras_hub.models.Backbone.from_preset(str(folder))
        if converter.image_size is None:
            raise ValueError(f"the image preset {folder} has an image converter without an image size")
        output = backbone.output
        if isinstance(output, (dict, list, tuple)) or len(output.shape) not in (3, 4):
            raise ValueError(
                f"the image preset {folder} ({type(backbone).__name__}) has no single feature map or token sequence "
                "to pool: use a classification backbone such as ResNet or ViT"
            )
        self.image_size = max(converter.image_size)  # posters are decoded square; the converter makes them its size
        self.dimension = int(output.shape[-1])
        class_token = len(output.shape) == 3 and getattr(backbone, "use_class_token", True)

        @traced([tf.TensorSpec([None, None, None, 3], tf.uint8)])
        def pooled(images):
            features = backbone(converter(tf.cast(images, tf.float32)), training=False)
            if len(output.shape) == 4:
                return tf.reduce_mean(features, axis=(1, 2))
            return features[:, 0] if class_token else tf.reduce_mean(features, axis=1)

        self._pooled = pooled

    def __call__(self, posters: np.ndarray) -> np.ndarray:
        embeddings = np.zeros((len(posters), self.dimension), np.float32)
        for start in range(0, len(posters), BATCH):
            embeddings[start : start + BATCH] = self._pooled(np.asarray(posters[start : start + BATCH], np.uint8)).numpy()
        return embeddings


@functools.lru_cache(maxsize=4)
def embedder_for(folder: Path) -> ImageEmbedder:
    """One backbone per preset in a process, shared by every classifier that uses it."""
    return ImageEmbedder(folder)
