"""What every encoder is: its settings, what it reads, how its Keras trunk is built, what it costs.

A trained encoder (the CNN, the LSTM) is a trunk inside the Keras models. A frozen pretrained
encoder (a KerasHub preset) runs before them, once per movie, and its embedding is the model input.
`models.build_models` puts heads on whichever encoders the config names; nothing else needs to know
which. Each encoder owns its settings (a dataclass in its module: config.json's `poster` or
`overview` section) and everything that depends on them: the trunk, the features, the card's line,
its weights' and activations' size. Keras is imported only when a trunk is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre_hf.settings import setting

POSTER_INPUT = "poster"
TOKENS_INPUT = "overview_tokens"
FLOAT = 4  # bytes
SCHEDULES = ("constant", "cosine")  # an encoder's model's learning rate (see `training.fit`); without a `schedule` setting, constant


@dataclass
class EncoderSettings:
    """What every encoder's settings hold: its kind (its name in config.json) and how many epochs its
    model trains. Each encoder's settings class redeclares `kind` with its own name as the default."""

    kind: str = setting("", chars=40)
    epochs: int = setting(20, 1, 1000)

    def rules(self, trained: bool = False) -> list[str]:
        """What a range alone cannot say (`trained`: a model folder's settings, which training completed)."""
        return []


class Encoder:
    modality: str  # "poster" or "overview"
    kind: str  # its name in config.json (`poster.kind` / `overview.kind`)
    Settings: type = EncoderSettings
    title: str  # how model titles name it, e.g. "Poster CNN"
    input_name: str
    frozen = False  # True: runs before the models and is never trained here
    last_conv_layer: str | None = None  # posters: where Grad-CAM looks (None: no convolution in the models)

    def __init__(self, settings, tokenizer=None, seed: int = 0):
        """`tokenizer` (modeling.tokenizer.Tokenizer) for token-id readers; `seed` for anything random in the trunk."""
        self.settings, self.tokenizer, self.seed = settings, tokenizer, seed

    @classmethod
    def pinned(cls, settings):
        """`settings` completed with what training records before the encoder is built, so a loader
        gets exactly this encoder (e.g. a preset's revision, weights hash and feature size)."""
        return settings

    @property
    def image_size(self) -> int:
        """Posters: the side they are decoded at."""
        return self.settings.image_size

    @property
    def head_dropout(self) -> float:
        """Dropout before the single model's sigmoid head."""
        return 0.0

    @property
    def feature_dropout(self) -> float:
        """A frozen encoder: dropout on its features where the fusion head reads them whole."""
        return 0.0

    def input_spec(self) -> tuple[tuple, str]:
        """(shape without the batch axis, dtype) of the model input this encoder reads."""
        raise NotImplementedError

    def features(self, items) -> np.ndarray:
        """Decoded posters (N x S x S x 3 uint8) or overview strings -> this encoder's model input."""
        return items

    def feature_maps(self, posters: np.ndarray) -> np.ndarray | None:
        """A frozen poster encoder: its backbone's last feature map (N x h x w x channels) for decoded
        posters, which its features pool; Grad-CAM reads it. None when it has none (a token sequence;
        a trained CNN's convolution is inside the models: `last_conv_layer`)."""
        return None

    def pool_maps(self, maps):
        """`feature_maps`' output as a TensorFlow tensor -> this encoder's features, as `features`
        computes them and differentiably (Grad-CAM's gradient goes through it)."""
        raise NotImplementedError

    def trunk(self, inputs):
        """Keras layers from the model input to `<modality>_embedding` (trainable unless frozen)."""
        raise NotImplementedError

    def sentence_span(self) -> tuple[int, int] | None:
        """(start, size) of a sentence embedding within this encoder's features, for the fusion head's
        neighbour vote; None when it has none."""
        return None

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

    # ---- what a model folder keeps for it besides the weights (hub/folder.py names the files) ------

    def file_roles(self) -> tuple[str, ...]:
        """The files it keeps in a model folder, by role ("converted": a frozen pass on LiteRT, "vocabulary"...)."""
        return ()

    def saved_files(self) -> dict[str, bytes]:
        """{role: content} of the files it keeps in a model folder."""
        return {}

    def load_files(self, files: dict) -> None:
        """Read and check its files of a model folder ({role: path}); a ValueError says what is wrong."""

    def card_facts(self) -> dict:
        """What the model card says about this encoder: its title and a sentence (Markdown)."""
        return {"title": self.title, "description": ""}

    # ---- what it costs, before anything is built (see config.GenreConfig.problems) -----------------

    @classmethod
    def embedding_size(cls, settings) -> int:
        """The trunk's output size: what the single head (and the fusion head, unless it reads features) reads."""
        raise NotImplementedError

    @classmethod
    def feature_size(cls, settings) -> int:
        """A frozen encoder's feature size (its model input), which the fusion head may read whole."""
        return 0

    @classmethod
    def trunk_weights(cls, settings, vocabulary: int) -> int:
        """How many weights the trunk has (the model input's vocabulary of `vocabulary` tokens)."""
        raise NotImplementedError

    @classmethod
    def pass_bytes(cls, settings, tokens) -> int:
        """Roughly the activation bytes one movie takes in a forward pass (`tokens`: the TokenSettings)."""
        raise NotImplementedError

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        """A movie's feature bytes (the model input) before the data is read: how training chooses
        between features in memory and streamed (see `features.input_mode`)."""
        raise NotImplementedError
