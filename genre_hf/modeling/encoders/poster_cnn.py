"""The poster CNN, trained from scratch: the reference family's poster encoder."""

from __future__ import annotations

from dataclasses import dataclass

from genre_hf.modeling.encoders._base import FLOAT, POSTER_INPUT, SCHEDULES, Encoder, EncoderSettings
from genre_hf.settings import setting


@dataclass
class PosterCnnSettings(EncoderSettings):
    kind: str = setting("cnn", choices=("cnn",))
    image_size: int = setting(64, 16, 512)  # posters decoded and resized once to this square
    # Half the widths of the coursework's [32, 64, 128, 256] and a stride-2 first convolution: 7x the
    # training throughput for the same validation mAP (docs/scaling.md).
    filters: list[int] = setting([16, 32, 64, 128], length=(1, 8), items=(1, 1024))
    stem_stride: int = setting(2, 1, 4)  # the first convolution's: 2 computes every later block on a quarter of the pixels
    embedding: int = setting(128, 1, 2048)
    dropout: float = setting(0.4, 0.0, 0.95)
    augment: bool = setting(True)  # random flips and shifts, in training only
    epochs: int = setting(15, 1, 1000)
    # "cosine" warms up over the first epoch and decays to zero by the last, with no early stop (the
    # best epoch is still kept): over 3 seeds its validation mAP beat a constant rate by more than the
    # spread (docs/benchmark.md, "The poster model's candidates"); "constant" stops after `patience`
    # epochs without improvement, as the other models do.
    schedule: str = setting("cosine", choices=SCHEDULES)


class PosterCnn(Encoder):
    """Conv blocks on a square uint8 poster, global pooling, a dense embedding; trained from scratch."""

    modality, kind, title, input_name = "poster", "cnn", "Poster CNN", POSTER_INPUT
    Settings = PosterCnnSettings

    @property
    def head_dropout(self) -> float:
        return self.settings.dropout

    def input_spec(self):
        return (self.image_size, self.image_size, 3), "uint8"

    def trunk(self, poster):
        from keras import layers

        settings = self.settings
        x = layers.Rescaling(1 / 255.0, name="rescale")(poster)
        if settings.augment:  # active in training only
            x = layers.RandomFlip("horizontal", seed=self.seed, name="flip")(x)
            x = layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=self.seed, name="shift")(x)
        for block, filters in enumerate(settings.filters, start=1):
            stride = settings.stem_stride if block == 1 else 1
            x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"block{block}_conv")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn")(x)
            x = layers.Activation("relu", name=f"block{block}_relu")(x)
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        x = layers.GlobalAveragePooling2D(name="poster_pool")(x)
        x = layers.Dropout(settings.dropout, name="poster_pool_dropout")(x)
        return layers.Dense(settings.embedding, activation="relu", name="poster_embedding")(x)

    @property
    def last_conv_layer(self) -> str:
        """Where Grad-CAM looks: the last convolution block's activation."""
        return f"block{len(self.settings.filters)}_relu"

    def card_facts(self) -> dict:
        settings = self.settings
        return {"title": self.title, "description": (
            f"a {settings.image_size}x{settings.image_size} RGB poster through {len(settings.filters)} convolution blocks "
            f"({', '.join(map(str, settings.filters))} filters) and a dense layer, trained from scratch.")}

    @classmethod
    def embedding_size(cls, settings) -> int:
        return settings.embedding

    @classmethod
    def trunk_weights(cls, settings, vocabulary: int) -> int:
        widths = [3, *settings.filters]
        convolutions = sum(9 * a * b + 4 * b for a, b in zip(widths, widths[1:]))  # kernels and batch normalisation
        return convolutions + widths[-1] * settings.embedding + settings.embedding

    @classmethod
    def pass_bytes(cls, settings, tokens) -> int:
        side = settings.image_size
        poster = FLOAT * 3 * side**2 * 2  # the poster in float, and as large again for its rescaled copy
        return poster + FLOAT * 3 * (side // settings.stem_stride) ** 2 * settings.filters[0]  # convolution, normalisation, activation

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return 3 * settings.image_size**2
