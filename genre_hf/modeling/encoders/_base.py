"""What every encoder is: what it reads, how its Keras trunk is built, what a model folder keeps for it.

A trained encoder (the CNN, the LSTM) is a trunk inside the Keras models. A frozen pretrained
encoder (a KerasHub preset) runs before them, once per movie, and its embedding is the model input.
`models.build_models` puts heads on whichever encoders the config names; nothing else needs to know
which. Keras is imported only when a trunk is built.
"""

from __future__ import annotations

import numpy as np

from genre_hf.config import GenreConfig

POSTER_INPUT = "poster"
TOKENS_INPUT = "overview_tokens"


class Encoder:
    modality: str  # "poster" or "overview"
    kind: str  # its name in config.json (`poster_encoder` / `overview_encoder`)
    title: str  # how model titles name it, e.g. "Poster CNN"
    input_name: str
    frozen = False  # True: runs before the models and is never trained here
    head_dropout = 0.0
    last_conv_layer: str | None = None  # posters: where Grad-CAM looks (None: no convolution in the models)

    def __init__(self, config: GenreConfig, tokenizer=None):
        self.config, self.tokenizer = config, tokenizer  # tokenizer: modeling.tokenizer.Tokenizer, for token-id readers

    @classmethod
    def pinned_settings(cls, config: GenreConfig) -> dict:
        """Config values training records, before the encoder is built, so a loader gets exactly this
        encoder (e.g. a preset's revision, weights hash and feature size)."""
        return {}

    def input_spec(self) -> tuple[tuple, str]:
        """(shape without the batch axis, dtype) of the model input this encoder reads."""
        raise NotImplementedError

    def features(self, items) -> np.ndarray:
        """Decoded posters (N x S x S x 3 uint8) or overview strings -> this encoder's model input."""
        return items

    def trunk(self, inputs):
        """Keras layers from the model input to `<modality>_embedding` (trainable unless frozen)."""
        raise NotImplementedError

    def feature_key(self) -> dict:
        """What this encoder's features depend on beyond the shared settings (see `features.cache.feature_key`)."""
        return {}

    def notes(self, texts: list[str]) -> list[list[str]]:
        """Per overview, what a user should know about how it was read (cut short, no known word)."""
        return [[] for _ in texts]

    def unavailable(self) -> str | None:
        """Why this encoder cannot run on this machine (a pretrained backbone that cannot be had here),
        or None. The models that do not read its modality still can."""
        return None

    def card_facts(self) -> dict:
        """What the model card says about this encoder: name, licence, link."""
        return {"title": self.title}
