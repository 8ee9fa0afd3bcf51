"""One config object: every number the models, the training and the loader use lives here once.

It is saved as `config.json` next to the weights, so a loader rebuilds exactly the architecture and
preprocessing that were trained (the timm / open_clip habit). This module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

FORMAT_VERSION = 2
PROJECT_URL = "https://github.com/genre-hf/genre_hf"
LOSSES = ("bce", "weighted_bce", "focal")
SCHEDULES = ("constant", "cosine")
DEFAULT_TEXT_PRESET = "hf://sentence-transformers/all-MiniLM-L6-v2"

# The three models, named by the inputs they read. Format 1 named the first two by architecture.
MODEL_NAMES = ("poster", "overview", "fusion")
MODEL_INPUTS = {"poster": ("poster",), "overview": ("overview",), "fusion": ("poster", "overview")}
LEGACY_MODEL_NAMES = {"cnn": "poster", "lstm": "overview"}


@dataclass
class GenreConfig:
    format_version: int = FORMAT_VERSION
    # Filled from the training split; the order is the order of the model outputs.
    genres: list[str] = field(default_factory=list)

    # Data: validation and test splits are a deterministic hash of the movie id (see data.SplitSpec).
    validation_fraction: float = 0.15
    test_fraction: float = 0.10
    split_salt: str = "genre_hf-v1"

    # Encoders (see encoders.py): "cnn" (trained here) or "keras_hub" for posters; "lstm" (trained
    # here) or "keras_hub" for overviews. "keras_hub" is a pretrained KerasHub backbone, frozen,
    # given by its preset (`image_preset` / `text_preset`).
    poster_encoder: str = "cnn"
    overview_encoder: str = "lstm"
    text_preset: str = DEFAULT_TEXT_PRESET
    text_preset_revision: str = ""  # the Hub commit it was trained with (empty for a local folder), set by training
    text_preset_sha256: str = ""  # its weights file's hash, set by training: other weights are refused
    text_sequence_length: int = 128  # WordPiece tokens, [CLS] and [SEP] included
    # Every layer's attention-mask mean (0 = embeddings), each scaled to unit length and concatenated:
    # genre cues sit in the middle layers as much as in the last, and the unit scale keeps one layer
    # from drowning the others (measured: README, "Two model families").
    text_layers: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    text_normalize_layers: bool = True
    text_embedding_dim: int = 0  # hidden size x layers, set by training
    text_input_dropout: float = 0.2
    text_head_units: int = 512
    text_head_dropout: float = 0.5
    # The poster's preset (hf://owner/name or a local KerasHub preset folder). No default: no image
    # backbone has been measured here. Its image converter sets image_size at training.
    image_preset: str = ""
    image_preset_revision: str = ""  # as text_preset_revision
    image_preset_sha256: str = ""  # as text_preset_sha256
    image_embedding_dim: int = 0  # the backbone's pooled feature size, set by training
    # The text head's settings, unmeasured for posters.
    image_input_dropout: float = 0.2
    image_head_units: int = 512
    image_head_dropout: float = 0.5

    # Posters: decoded and resized once to image_size x image_size RGB (for a "keras_hub" poster
    # encoder, the size its preset's image converter wants, set by training).
    image_size: int = 64

    # Overviews: TextVectorization adapted on the training split only (the LSTM and the wide TF-IDF
    # path read it). sequence_length 0 means "choose it from the data": the given percentile of
    # training overview lengths, in words.
    max_tokens: int = 20000
    sequence_length: int = 0
    sequence_percentile: float = 99.0

    # Poster CNN.
    # Half the widths of the coursework's [32, 64, 128, 256] and a stride-2 first convolution: 7x
    # the training throughput for the same validation mAP (README, "Scaling").
    cnn_filters: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    cnn_stem_stride: int = 2  # the first convolution's stride: 2 computes every later block on a quarter of the pixels
    cnn_embedding: int = 128
    cnn_dropout: float = 0.4
    augment_posters: bool = True

    # Overview LSTM (bidirectional, pooled over time) with a bag-of-words shortcut.
    embedding_dim: int = 64
    lstm_units: int = 48
    text_embedding: int = 128
    text_dropout: float = 0.4
    spatial_dropout: float = 0.2
    bag_of_words: bool = True
    bag_of_words_l2: float = 1e-5

    # Fusion: the two trained trunks, their embeddings concatenated into a joint head.
    fusion_hidden: int = 128
    fusion_dropout: float = 0.4
    modality_dropout: float = 0.15
    # A frozen pretrained encoder's features go into the joint head whole, not through its trunk.
    fusion_reads_features: bool = True
    # The head learns on the trunks' embeddings computed once (no augmentation or trunk dropout
    # then): 4x faster than running the frozen trunks every batch, quality within the seed spread
    # (README, "Scaling"). Off, on streamed features or under a strategy: through the trunks.
    fusion_on_stored_embeddings: bool = True
    # With a frozen text encoder: a neighbour vote in the joint head (models.NeighbourGenres), the
    # genres of the `neighbour_k` nearest training overviews (0: none).
    neighbour_k: int = 0
    neighbour_temperature: float = 0.05
    neighbour_index_size: int = 0  # training movies in its index, set by training
    wide_tfidf: bool = True
    wide_scale: float = 30.0
    wide_l2: float = 3e-6

    # Training.
    loss: str = "weighted_bce"  # chosen by measurement: see README, "Choosing the loss"
    focal_gamma: float = 2.0
    class_weight_power: float = 0.5
    batch_size: int = 64
    learning_rate: float = 2e-3
    fusion_learning_rate: float = 2e-3
    epochs_poster: int = 15
    # The poster CNN's learning rate: "cosine" warms up over the first epoch and decays to zero by the
    # last, with no early stop (the best epoch is still kept): over 3 seeds its validation mAP beat a
    # constant rate by more than the spread (README, "The poster model's candidates"); "constant" stops after
    # `patience` epochs without improvement, as the other models do.
    poster_schedule: str = "cosine"
    epochs_overview: int = 20
    epochs_fusion: int = 15
    patience: int = 4
    seed: int = 42

    # Thresholds: a genre's own threshold is shrunk toward the global one by this pseudo-count.
    threshold_prior_strength: float = 20.0
    # Genres a movie gets: on validation, the mean number predicted is held to this times the true
    # mean (1.4 there keeps test under 1.5; README, "The Space"), with the most a movie gets learned too.
    max_genres_ratio: float = 1.4

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.poster_schedule not in SCHEDULES:
            raise ValueError(f"poster_schedule must be one of {SCHEDULES}, got {self.poster_schedule!r}")

    @classmethod
    def for_family(cls, family: str, **settings) -> "GenreConfig":
        """The defaults of a model family (see FAMILIES), with `settings` on top."""
        if family not in FAMILIES:
            raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
        return cls(**{**FAMILIES[family], **settings})

    @property
    def num_genres(self) -> int:
        return len(self.genres)

    def epochs(self, model: str) -> int:
        return getattr(self, f"epochs_{model}")

    def learning_rate_of(self, model: str) -> float:
        """A model's learning rate (before any scaling with replicas): the fusion head has its own."""
        return self.fusion_learning_rate if model == "fusion" else self.learning_rate

    def schedule(self, model: str) -> str:
        """A model's learning-rate schedule (SCHEDULES): a setting for the poster CNN only, where cosine
        won; for the others it tied or lost (README, "The from-scratch models' early best epoch")."""
        return self.poster_schedule if model == "poster" else "constant"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def non_defaults(self) -> dict:
        """The settings that differ from the defaults, for the model card."""
        default = GenreConfig()
        return {
            k: v
            for k, v in self.to_dict().items()
            if k not in PINNED and k not in ("genres", "format_version", "neighbour_index_size")
            and getattr(default, k) != v
        }

    @classmethod
    def from_dict(cls, values: dict) -> "GenreConfig":
        version = values.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(_version_advice(version))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:  # named, but never more than a few of them, each cut short: they come from the file
            raise ValueError(f"unknown config keys {[key[:40] for key in unknown[:5]]}{' and more' if len(unknown) > 5 else ''} "
                             f"for format version {version}")
        return cls(**{**ADDED_SINCE_FORMAT, **values})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "GenreConfig":
        from genre_hf import reading

        return cls.from_dict(reading.read_json(path, reading.MB))


# Settings training records about a pretrained encoder (not choices, so the card does not list them).
PINNED = ("text_preset_revision", "text_preset_sha256", "text_embedding_dim",
          "image_preset_revision", "image_preset_sha256", "image_embedding_dim")

# Settings added within a format version, with the value that reproduces a folder saved before them.
ADDED_SINCE_FORMAT = {
    "text_normalize_layers": False, "fusion_reads_features": False, "fusion_on_stored_embeddings": False, "cnn_stem_stride": 1,
    "poster_schedule": "constant",
}

# A family is a set of encoders and the settings that suit them. The pretrained text encoder already
# carries the word evidence the wide TF-IDF path adds to the LSTM (measured: it costs the pretrained
# fusion model mAP), its 512-unit trunk wants a wider joint head than the LSTM's 128, and its sentence
# embedding makes the neighbour vote worth its 3.5 MB (README, "Two model families").
FAMILIES = {
    "scratch": {},
    "pretrained": {"overview_encoder": "keras_hub", "wide_tfidf": False, "fusion_hidden": 512, "fusion_dropout": 0.5, "neighbour_k": 25},
}


def _version_advice(version) -> str:
    reads = f"genre_hf {_package_version()} reads format version {FORMAT_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        return f"format version {version} is newer: {reads}; upgrade genre_hf (pip install -U genre_hf) to load it"
    if version == 1:
        return f"format version 1 was written by genre_hf 0.1 (models named cnn/lstm): {reads}; retrain the model"
    return f"format_version must be a whole number ({FORMAT_VERSION} for this genre_hf), not {repr(version)[:30]}"


def _package_version() -> str:
    from genre_hf import __version__

    return __version__
