"""The poster CNN, trained from scratch: the reference family's poster encoder."""

from __future__ import annotations

from genre_hf.modeling.encoders import register_encoder
from genre_hf.modeling.encoders._base import POSTER_INPUT, Encoder


@register_encoder
class PosterCnn(Encoder):
    """Conv blocks on a 64x64 uint8 poster, global pooling, a dense embedding; trained from scratch."""

    modality, kind, title, input_name = "poster", "cnn", "Poster CNN", POSTER_INPUT

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def head_dropout(self) -> float:
        return self.config.cnn_dropout

    def input_spec(self):
        return (self.image_size, self.image_size, 3), "uint8"

    def trunk(self, poster):
        from keras import layers

        config = self.config
        x = layers.Rescaling(1 / 255.0, name="rescale")(poster)
        if config.augment_posters:  # active in training only
            x = layers.RandomFlip("horizontal", seed=config.seed, name="flip")(x)
            x = layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=config.seed, name="shift")(x)
        for block, filters in enumerate(config.cnn_filters, start=1):
            stride = config.cnn_stem_stride if block == 1 else 1
            x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"block{block}_conv")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn")(x)
            x = layers.Activation("relu", name=f"block{block}_relu")(x)
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        x = layers.GlobalAveragePooling2D(name="poster_pool")(x)
        x = layers.Dropout(config.cnn_dropout, name="poster_pool_dropout")(x)
        return layers.Dense(config.cnn_embedding, activation="relu", name="poster_embedding")(x)

    @property
    def last_conv_layer(self) -> str:
        """Where Grad-CAM looks: the last convolution block's activation."""
        return f"block{len(self.config.cnn_filters)}_relu"
