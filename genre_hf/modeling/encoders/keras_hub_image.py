"""A pretrained KerasHub image backbone, frozen: a poster encoder.

The preset's own image converter does the preprocessing it was trained with (size, scale, offset),
so nothing here knows about a particular model; the backbone's pooled output is the model input. On
LiteRT (the default runtime) the whole pass, converter included, is converted once and kept in the
model folder, so predicting needs neither TensorFlow nor the preset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genre_hf.modeling import litert
from genre_hf.modeling.encoders._base import FLOAT
from genre_hf.modeling.encoders._preset import KerasHubPreset, PresetSettings
from genre_hf.modeling.traced import traced
from genre_hf.settings import setting

BATCH = 32  # posters per forward pass: bounds the memory a 224 px backbone takes


@dataclass
class KerasHubImageSettings(PresetSettings):
    image_size: int = setting(224, 16, 512, recorded=True)  # what the preset's image converter wants, set by training
    epochs: int = setting(15, 1, 1000)

    def rules(self) -> list[str]:
        return [] if self.preset else ["preset must name the image backbone: hf://owner/name or a local KerasHub preset folder"]


class KerasHubImage(KerasHubPreset):
    """A pretrained KerasHub image backbone given by a preset, frozen: its pooled output (see
    `ImageEmbedder`) is the model input, and a trained dense layer on it is the trunk. The preset's
    image converter sets the poster size (`image_size`, recorded at training) and its preprocessing.
    """

    modality, input_name, role = "poster", "poster_features", "image encoder"
    Settings = KerasHubImageSettings

    @classmethod
    def pinned(cls, settings):
        settings = super().pinned(settings)
        embedder = embedder_for(cls.resolved(settings)[0])
        return replace(settings, embedding_dim=embedder.dimension, image_size=embedder.image_size)

    @classmethod
    def tensorflow_pass(cls, settings):
        return embedder_for(cls.resolved(settings)[0])._pooled

    def _embedder(self):
        if self.settings.runtime != "tensorflow":
            if self._lite is None:
                self._lite = LiteImageEmbedder(self.lite_content(), f"the converted {self.role}")
            return self._lite
        embedder = embedder_for(self.folder)
        if self.settings.sha256 and embedder.image_size != self.image_size:
            raise ValueError(
                f"the image encoder {self.settings.preset}'s image converter now wants {embedder.image_size} px posters, "
                f"but this model was trained with {self.image_size} px: it needs the preset it was trained with"
            )
        return embedder

    _lite = None  # the converted pass on LiteRT, made on first use

    def features(self, posters: np.ndarray) -> np.ndarray:
        return self._embedder()(posters)

    def card_details(self) -> str:
        return f"; {self.image_size}x{self.image_size} posters, preprocessed by its own image converter"

    @classmethod
    def pass_bytes(cls, settings, tokens) -> int:
        return FLOAT * 3 * settings.image_size**2 * 2  # the poster in float, and as large again


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

        @traced([tf.TensorSpec([None, None, None, 3], tf.uint8, name="posters")])
        def pooled(images):
            features = backbone(converter(tf.cast(images, tf.float32)), training=False)
            if len(output.shape) == 4:
                return tf.reduce_mean(features, axis=(1, 2))
            return features[:, 0] if class_token else tf.reduce_mean(features, axis=1)

        self._pooled = pooled

    def run(self, posters: np.ndarray) -> np.ndarray:
        return self._pooled(posters).numpy()

    def __call__(self, posters: np.ndarray) -> np.ndarray:
        embeddings = np.zeros((len(posters), self.dimension), np.float32)
        for start in range(0, len(posters), BATCH):
            embeddings[start : start + BATCH] = self.run(np.asarray(posters[start : start + BATCH], np.uint8))
        return embeddings


class LiteImageEmbedder(ImageEmbedder):
    """The same pass converted for LiteRT (the image converter inside it): no TensorFlow."""

    def __init__(self, content: bytes, what: str):
        self.model = litert.LiteModel(content, what)
        self.dimension = int(self.model.output_shapes()[0][-1])

    def run(self, posters: np.ndarray) -> np.ndarray:
        return self.model(posters)[0]


@functools.lru_cache(maxsize=4)
def embedder_for(folder: Path) -> ImageEmbedder:
    """One backbone per preset in a process, shared by every classifier that uses it."""
    return ImageEmbedder(folder)
