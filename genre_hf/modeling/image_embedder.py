"""A pretrained KerasHub image backbone run frozen: decoded posters -> one pooled feature vector each.

The preset's own image converter does the preprocessing it was trained with (size, scale, offset),
so nothing here knows about a particular model. The preset is resolved and pinned by
`pretrained.resolve`, as the text encoder's is. Only the `keras_hub` poster encoder imports this.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

BATCH = 32  # posters per forward pass: bounds the memory a 224 px backbone takes


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

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
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
def embedder(folder: Path) -> ImageEmbedder:
    """One backbone per preset in a process, shared by every classifier that uses it."""
    return ImageEmbedder(folder)
