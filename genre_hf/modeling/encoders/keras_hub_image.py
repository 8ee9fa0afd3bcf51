"""A pretrained KerasHub image backbone, frozen: a poster encoder, and what every frozen image
backbone shares (`FrozenImage`, `ImageEmbedder`).

The preset's own image converter does the preprocessing it was trained with (size, scale, offset),
so nothing here knows about a particular model; the backbone's pooled output is the model input. On
LiteRT (the default runtime) the whole pass, converter included, is converted once and kept in the
model folder, so predicting needs neither TensorFlow nor the backbone's source; Grad-CAM reads the
feature map of the backbone on TensorFlow (explanations run the Keras models anyway).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genre_hf.extras import MissingExtra
from genre_hf.modeling import litert
from genre_hf.modeling.encoders._base import FLOAT
from genre_hf.modeling.encoders._frozen import FrozenEncoder, LiteEmbedders, remembered
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


class FrozenImage(FrozenEncoder):
    """A frozen image backbone's poster encoder: its `ImageEmbedder` gives the features (on LiteRT, its
    converted pass), and the feature map they pool, which Grad-CAM reads."""

    modality, input_name, role = "poster", "poster_features", "image encoder"

    def _tensorflow_embedder(self) -> "ImageEmbedder":
        """The backbone on TensorFlow, checked against what this model was trained with."""
        raise NotImplementedError

    @classmethod
    def tensorflow_pass(cls, settings):
        return cls(settings)._tensorflow_embedder()._pooled

    def _embedder(self) -> "ImageEmbedder":
        if self.settings.runtime == "tensorflow":
            return self._tensorflow_embedder()
        embedder = _LITE_EMBEDDERS.get(self.settings.converted_sha256, self.image_size)
        if embedder is None:
            embedder = LiteImageEmbedder(self.lite_content(), f"the converted {self.role}")
            _LITE_EMBEDDERS.put(self.settings.converted_sha256, self.image_size, embedder)
        return embedder

    def features(self, posters: np.ndarray) -> np.ndarray:
        return self._embedder()(posters)

    def feature_maps(self, posters: np.ndarray) -> np.ndarray | None:
        try:
            embedder = self._tensorflow_embedder()
        except MissingExtra:
            return None  # a folder on LiteRT answers without the pretrained extra, but its feature map needs it
        return embedder.feature_maps(posters)

    def pool_maps(self, maps):
        return self._tensorflow_embedder().pool(maps)


class KerasHubImage(KerasHubPreset, FrozenImage):
    """A pretrained KerasHub image backbone given by a preset, frozen: its pooled output (see
    `ImageEmbedder`) is the model input, and a trained dense layer on it is the trunk. The preset's
    image converter sets the poster size (`image_size`, recorded at training) and its preprocessing.
    """

    Settings = KerasHubImageSettings

    @classmethod
    def pinned(cls, settings):
        """The preset's pins and what its image converter and backbone say (size, features), then the
        converted pass's pin (which is checked against them)."""
        folder, revision, sha256 = cls.resolved(settings)
        embedder = embedder_for(folder)
        settings = replace(settings, revision=revision, sha256=sha256, embedding_dim=embedder.dimension, image_size=embedder.image_size)
        return replace(settings, converted_sha256=cls.converted_pin(settings))

    def _tensorflow_embedder(self) -> "ImageEmbedder":
        embedder = embedder_for(self.folder)
        if self.settings.sha256 and embedder.image_size != self.image_size:
            raise ValueError(
                f"the image encoder {self.settings.preset}'s image converter now wants {embedder.image_size} px posters, "
                f"but this model was trained with {self.image_size} px: it needs the preset it was trained with"
            )
        return embedder

    def card_details(self) -> str:
        return f"; {self.image_size}x{self.image_size} posters, preprocessed by its own image converter"

    @classmethod
    def pass_bytes(cls, settings, tokens) -> int:
        return FLOAT * 3 * settings.image_size**2 * 2  # the poster in float, and as large again


class ImageEmbedder:
    """A frozen backbone: posters (N x S x S x 3 uint8) -> its pooled output, N x dimension float32.

    A feature map (conv backbones such as ResNet or EfficientNet: batch x height x width x channels)
    is averaged over its positions; a token sequence (ViT-style backbones) gives its class token, or
    the mean of its tokens when it has none: each what the preset kind's own image classifier pools.
    `layers` names feature maps on the same grid to pool instead of the output, each on its own and
    concatenated (for Grad-CAM they are one map, their channels side by side). `unit_length` scales
    each pooled map to length 1. Each distinct poster is embedded once per process (up to
    `_frozen.MEMORY` of them, known by the sha256 of its pixels): a training run reads every poster
    for each model and the baseline, and a benchmark for every seed.
    """

    def __init__(self, backbone, converter, name: str, unit_length: bool = False, layers: tuple[str, ...] = ()):
        """`backbone` (a KerasHub backbone) and `converter` (its image converter: size and preprocessing);
        `name` is how errors call it."""
        import keras
        import tensorflow as tf

        if converter.image_size is None:
            raise ValueError(f"the image preset {name} has an image converter without an image size")
        outputs = [backbone.get_layer(layer).output for layer in layers] or [backbone.output]
        if any(isinstance(output, (dict, list, tuple)) or len(output.shape) not in (3, 4) for output in outputs) or (
                len(outputs) > 1 and any(len(output.shape) != 4 for output in outputs)):
            raise ValueError(
                f"the image preset {name} ({type(backbone).__name__}) has no single feature map or token sequence "
                "to pool: use a classification backbone such as ResNet or ViT"
            )
        self.image_size = max(converter.image_size)  # posters are decoded square; the converter makes them its size
        self._parts = [int(output.shape[-1]) for output in outputs]  # each pooled map's channels
        self.dimension = sum(self._parts)
        self.has_maps = len(outputs[0].shape) == 4
        self._class_token = not self.has_maps and getattr(backbone, "use_class_token", True)
        self._unit_length = unit_length
        self._memory: dict[bytes, np.ndarray] = {}
        model = keras.Model(backbone.input, outputs) if layers else backbone
        spec = [tf.TensorSpec([None, None, None, 3], tf.uint8)]

        @traced(spec)
        def maps(images):
            output = model(converter(tf.cast(images, tf.float32)), training=False)
            return tf.concat(output, axis=-1) if layers else output

        @traced(spec)
        def pooled(images):
            return self.pool(maps(images))

        self._maps, self._pooled = maps, pooled

    def pool(self, output):
        """The backbone's output (a TensorFlow tensor; `layers`' maps side by side) -> the features,
        differentiably (Grad-CAM goes through it)."""
        import tensorflow as tf

        pooled = []
        for part in tf.split(output, self._parts, axis=-1) if len(self._parts) > 1 else [output]:
            if self.has_maps:
                features = tf.reduce_mean(part, axis=(1, 2))
            else:
                features = part[:, 0] if self._class_token else tf.reduce_mean(part, axis=1)
            pooled.append(tf.math.l2_normalize(features, axis=-1) if self._unit_length else features)
        return tf.concat(pooled, axis=-1) if len(pooled) > 1 else pooled[0]

    def __call__(self, posters: np.ndarray) -> np.ndarray:
        if not len(posters):
            return np.zeros((0, self.dimension), np.float32)
        posters = np.ascontiguousarray(posters, np.uint8)
        keys = [hashlib.sha256(poster).digest() for poster in posters]
        return np.stack(remembered(self._memory, keys, list(posters), self._embed))

    def _embed(self, posters: list[np.ndarray]) -> np.ndarray:
        embeddings = np.zeros((len(posters), self.dimension), np.float32)
        for start in range(0, len(posters), BATCH):
            embeddings[start : start + BATCH] = self.run(np.stack(posters[start : start + BATCH]))
        return embeddings

    def run(self, posters: np.ndarray) -> np.ndarray:
        """One batch of posters -> its features."""
        return self._pooled(posters).numpy()

    def feature_maps(self, posters: np.ndarray) -> np.ndarray | None:
        """The feature map (N x h x w x channels) that the features pool, for Grad-CAM; None for a
        token sequence, which has no positions on the poster."""
        return self._maps(np.asarray(posters, np.uint8)).numpy() if self.has_maps else None


class LiteImageEmbedder(ImageEmbedder):
    """The same pass converted for LiteRT (the image converter inside it): no TensorFlow."""

    def __init__(self, content: bytes, what: str):
        self.model = litert.LiteModel(content, what)
        self.dimension = int(self.model.output_shapes()[0][-1])
        self._memory: dict[bytes, np.ndarray] = {}

    def run(self, posters: np.ndarray) -> np.ndarray:
        return self.model(posters)[0]


_LITE_EMBEDDERS = LiteEmbedders()  # (converted file's sha256, poster size) -> its embedder


@functools.lru_cache(maxsize=4)
def embedder_for(folder: Path) -> ImageEmbedder:
    """One backbone per preset in a process, shared by every classifier that uses it."""
    import keras_hub

    converter = keras_hub.layers.ImageConverter.from_preset(str(folder))
    return ImageEmbedder(keras_hub.models.Backbone.from_preset(str(folder)), converter, str(folder))
