"""Encoders: what turns a poster or an overview into an embedding, one class each.

An encoder says what it reads (one named model input and its shape), how its Keras trunk is built
(ending in a layer named `<modality>_embedding`), whether training fits it, and what a model folder
keeps for it. A trained encoder (the CNN, the LSTM) is a trunk inside the Keras models. A frozen
pretrained encoder (a KerasHub preset: `pretrained.py`, `pretrained_image.py`) runs before them,
once per movie, and its embedding is the model input. `models.py` puts heads on whichever encoders
the config names; nothing else needs to know which. Keras is imported only when a trunk is built.
"""

from __future__ import annotations

import numpy as np

from genre_hf.config import GenreConfig

POSTER_INPUT = "poster"
TOKENS_INPUT = "overview_tokens"
NO_KNOWN_WORD = (
    "None of the overview's words are in the model's vocabulary (it learned from English IMDb overviews), "
    "so the overview models can only give the genres' base rates."
)


class Encoder:
    modality: str  # "poster" or "overview"
    kind: str  # its name in config.json (`poster_encoder` / `overview_encoder`)
    title: str  # how model titles name it, e.g. "Poster CNN"
    input_name: str
    frozen = False  # True: runs before the models and is never trained here
    head_dropout = 0.0
    last_conv_layer: str | None = None  # posters: where Grad-CAM looks (None: no convolution in the models)

    def __init__(self, config: GenreConfig, tokenizer=None):
        self.config, self.tokenizer = config, tokenizer  # tokenizer: features.Tokenizer, for token-id readers

    def input_spec(self) -> tuple[tuple, str]:
        """(shape without the batch axis, dtype) of the model input this encoder reads."""
        raise NotImplementedError

    def features(self, items) -> np.ndarray:
        """Decoded posters (N x S x S x 3 uint8) or overview strings -> this encoder's model input."""
        return items

    def trunk(self, inputs):
        """Keras layers from the model input to `<modality>_embedding` (trainable unless frozen)."""
        raise NotImplementedError

    def pinned_settings(self) -> dict:
        """Config values training records so a loader gets exactly this encoder (e.g. a preset's revision)."""
        return {}

    def feature_key(self) -> dict:
        """What this encoder's features depend on beyond the shared settings (see `streaming.feature_key`)."""
        return {}

    def notes(self, texts: list[str]) -> list[list[str]]:
        """Per overview, what a user should know about how it was read (cut short, no known word)."""
        return [[] for _ in texts]

    def card_facts(self) -> dict:
        """What the model card says about this encoder: name, licence, link."""
        return {"title": self.title}


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


class OverviewLstm(Encoder):
    """Token ids -> a masked BiLSTM (fused: see models.FusedBiLSTM) pooled over time, plus a bag of words;
    trained from scratch.

    The bag-of-words shortcut gives the linear word evidence that a TF-IDF model thrives on, which
    an LSTM trained from scratch on 5k overviews struggles to learn alone.
    """

    modality, kind, title, input_name = "overview", "lstm", "Overview LSTM", TOKENS_INPUT

    @property
    def head_dropout(self) -> float:
        return self.config.text_dropout

    def input_spec(self):
        return (self.config.sequence_length,), "int32"

    def features(self, texts: list[str]) -> np.ndarray:
        return self.tokenizer(texts)

    def notes(self, texts: list[str]) -> list[list[str]]:
        notes = []
        for text, tokens in zip(texts, self.features(texts)):
            words = len(text.split())
            if not (tokens > 1).any():  # 0 pads, 1 is out of vocabulary
                notes.append([NO_KNOWN_WORD])
            elif words > len(tokens):
                notes.append([f"The overview has {words:,} words; the overview models read the first {len(tokens)}."])
            else:
                notes.append([])
        return notes

    def trunk(self, tokens):
        import keras
        from keras import layers

        from genre_hf.modeling.models import FusedBiLSTM, MaskedMean

        config, size = self.config, len(self.tokenizer.vocabulary)
        x = layers.Embedding(size, config.embedding_dim, mask_zero=True, name="word_embedding")(tokens)
        x = layers.SpatialDropout1D(config.spatial_dropout, name="word_dropout")(x)
        x = FusedBiLSTM(config.lstm_units, name="bilstm")(x)
        features = [MaskedMean(name="lstm_mean")(x)]
        if config.bag_of_words:
            bag = layers.CategoryEncoding(size, output_mode="multi_hot", name="bag_of_words")(tokens)
            regularizer = keras.regularizers.L2(config.bag_of_words_l2)
            features.append(layers.Dense(config.text_embedding, kernel_regularizer=regularizer, name="bag_projection")(bag))
        x = layers.Concatenate(name="text_features")(features)
        x = layers.Dropout(config.text_dropout, name="text_dropout")(x)
        return layers.Dense(config.text_embedding, activation="relu", name="overview_embedding")(x)


class KerasHubPreset(Encoder):
    """What the frozen KerasHub encoders share: a preset, pinned at training by its Hub revision and
    weights hash (the config's `<prefix>_preset`, `<prefix>_preset_revision`, `<prefix>_preset_sha256`).

    A model folder keeps only these (config.json): the backbone comes from the Hub cache (or the
    preset folder) at exactly that revision, never a different one.
    """

    kind = "keras_hub"
    frozen = True
    prefix: str  # "text" or "image"
    role: str  # how errors name it, e.g. "text encoder"

    def __init__(self, config: GenreConfig, tokenizer=None):
        super().__init__(config, tokenizer)
        self._resolved = None  # (folder, revision, sha256), once asked for

    @property
    def preset(self) -> str:
        return getattr(self.config, f"{self.prefix}_preset")

    @property
    def pins(self) -> tuple[str, str]:
        """(revision, weights sha256) the model was trained with; empty before training."""
        return getattr(self.config, f"{self.prefix}_preset_revision"), getattr(self.config, f"{self.prefix}_preset_sha256")

    @property
    def preset_name(self) -> str:
        return self.preset.rstrip("/").rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return f"{self.modality.capitalize()} {self.preset_name}"

    def _folder(self):
        """(folder, revision, sha256) of the preset, resolved once per encoder: a prediction does
        not ask the Hub again."""
        from genre_hf.modeling import presets as pretrained

        if not self.preset:
            raise ValueError(
                f"{self.modality}_encoder 'keras_hub' needs {self.prefix}_preset: "
                "hf://owner/name or a local KerasHub preset folder"
            )
        if self._resolved is None:
            self._resolved = pretrained.resolve(self.preset, *self.pins, role=self.role)
        return self._resolved

    def pinned_settings(self) -> dict:
        _, revision, sha256 = self._folder()
        return {f"{self.prefix}_preset_revision": revision, f"{self.prefix}_preset_sha256": sha256}

    def card_facts(self) -> dict:
        hub = self.preset.removeprefix("hf://") if self.preset.startswith("hf://") else None
        return {
            "title": self.title,
            "name": hub or self.preset_name,
            "link": f"https://huggingface.co/{hub}" if hub else self.preset,
            "license": PRESET_LICENSES.get(hub, "see the preset's own card"),
        }


class KerasHubText(KerasHubPreset):
    """A pretrained KerasHub text backbone given by a preset (default: the Hub's
    sentence-transformers/all-MiniLM-L6-v2), frozen: the mean-pooled states of chosen layers are the
    model input, and a trained dense layer on them is the trunk.
    """

    modality, input_name, prefix, role = "overview", "overview_features", "text", "text encoder"

    @property
    def head_dropout(self) -> float:
        return self.config.text_head_dropout

    def input_spec(self):
        return (self.config.text_embedding_dim,), "float32"

    def _embedder(self, layers: tuple[int, ...] | None = None):
        from genre_hf.modeling import presets as pretrained

        folder = self._folder()[0]
        config = self.config
        return pretrained.embedder(folder, config.text_sequence_length, layers or tuple(config.text_layers), config.text_normalize_layers)

    def pinned_settings(self) -> dict:
        return {**super().pinned_settings(), "text_embedding_dim": self._embedder().dimension}

    def feature_key(self) -> dict:
        config = self.config
        return {"text_encoder": [config.text_preset, config.text_preset_revision, config.text_preset_sha256,
                                 config.text_layers, config.text_normalize_layers, config.text_sequence_length]}

    def features(self, texts: list[str]) -> np.ndarray:
        return self._embedder()(texts)

    def sentence_embeddings(self, texts: list[str]) -> np.ndarray:
        """The backbone's usual sentence embedding (last layer, mean-pooled), for the logistic-regression
        baseline; taken from `features` when the last layer is among the pooled ones."""
        embedder = self._embedder()
        hidden = embedder.dimension // len(self.config.text_layers)
        last = embedder.num_layers
        if last in self.config.text_layers:
            start = self.config.text_layers.index(last) * hidden
            return self.features(texts)[:, start : start + hidden]
        return self._embedder((last,))(texts)

    def notes(self, texts: list[str]) -> list[list[str]]:
        lengths = [len(ids) for ids in self._embedder().token_ids(texts)]
        limit = self.config.text_sequence_length
        return [[f"The overview is longer than the {limit} word pieces the overview models read; the rest is ignored."]
                if length >= limit else [] for length in lengths]

    def trunk(self, embedding):
        from keras import layers

        x = layers.Dropout(self.config.text_input_dropout, name="text_input_dropout")(embedding)
        return layers.Dense(self.config.text_head_units, activation="relu", name="overview_embedding")(x)


class KerasHubImage(KerasHubPreset):
    """A pretrained KerasHub image backbone given by a preset (`image_preset`), frozen: its pooled
    output (see `pretrained_image.ImageEmbedder`) is the model input, and a trained dense layer on it
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

    def _embedder(self):
        from genre_hf.modeling import image_embedder as pretrained_image

        embedder = pretrained_image.embedder(self._folder()[0])
        if self.pins[1] and embedder.image_size != self.image_size:
            raise ValueError(
                f"the image encoder {self.preset}'s image converter now wants {embedder.image_size} px posters, "
                f"but this model was trained with {self.image_size} px: it needs the preset it was trained with"
            )
        return embedder

    def pinned_settings(self) -> dict:
        embedder = self._embedder()
        return {**super().pinned_settings(), "image_embedding_dim": embedder.dimension, "image_size": embedder.image_size}

    def feature_key(self) -> dict:
        return {"image_encoder": [self.preset, *self.pins]}

    def features(self, posters: np.ndarray) -> np.ndarray:
        return self._embedder()(posters)

    def trunk(self, features):
        from keras import layers

        x = layers.Dropout(self.config.image_input_dropout, name="image_input_dropout")(features)
        return layers.Dense(self.config.image_head_units, activation="relu", name="poster_embedding")(x)


PRESET_LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "Apache-2.0"}  # Hub id -> licence, for the card

# (modality, kind) -> the encoder's class. Adding an encoder is one class and one entry here.
ENCODERS = {
    ("poster", "cnn"): PosterCnn,
    ("overview", "lstm"): OverviewLstm,
    ("overview", "keras_hub"): KerasHubText,
    ("poster", "keras_hub"): KerasHubImage,
}


def make_encoder(modality: str, config: GenreConfig, tokenizer=None) -> Encoder:
    kind = getattr(config, f"{modality}_encoder")
    if (modality, kind) not in ENCODERS:
        known = sorted(k for m, k in ENCODERS if m == modality)
        raise ValueError(f"unknown {modality}_encoder {kind!r}: use one of {known}")
    return ENCODERS[modality, kind](config, tokenizer)


def make_encoders(config: GenreConfig, tokenizer=None) -> dict[str, Encoder]:
    """The family's encoders by modality: {"poster": ..., "overview": ...}. Nothing is loaded yet."""
    return {modality: make_encoder(modality, config, tokenizer) for modality in ("poster", "overview")}


def model_titles(config: GenreConfig) -> dict[str, str]:
    """How reports and the app name each model: {"poster": "Poster CNN", ..., "fusion": "Fusion"}."""
    return {**{modality: encoder.title for modality, encoder in make_encoders(config).items()}, "fusion": "Fusion"}
