"""The config: the sections every component owns, put together, saved as `config.json`.

A loader rebuilds exactly the architecture and preprocessing that were trained from it (the timm /
open_clip habit). Each section is the dataclass of the component it configures, which states every
setting's type, default and range once (`settings.setting`): the split (`data.splits.SplitSpec`),
the tokens (`modeling.tokenizer.TokenSettings`), each encoder (its module in `modeling/encoders/`,
chosen by `kind`), the fusion head (`modeling.fusion.FusionSettings`), and training and calibration
(here). This module imports nothing heavy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from genre_hf import settings
from genre_hf.data import MAX_GENRE_CHARS
from genre_hf.data.splits import SplitSpec
from genre_hf.modeling.encoders import MODALITIES, encoder_class, make_encoders
from genre_hf.modeling.encoders._base import EncoderSettings
from genre_hf.modeling.encoders.keras_hub_text import KerasHubTextSettings
from genre_hf.modeling.encoders.overview_lstm import OverviewLstmSettings
from genre_hf.modeling.encoders.poster_cnn import PosterCnnSettings
from genre_hf.modeling.encoders.poster_efficientnet import PosterEfficientNetSettings
from genre_hf.modeling.fusion import FusionSettings, head_weights, reads_features
from genre_hf.modeling.tokenizer import TokenSettings
from genre_hf.settings import setting

FORMAT_VERSION = 4  # config.json's layout and the weights' names; any other version is refused in a line
PROJECT_URL = "https://github.com/genre-hf/genre_hf"
LOSSES = ("bce", "weighted_bce", "focal")
MAX_WEIGHT_BYTES = 256 * 2**20  # what the weights of any accepted config may take (float32, the neighbour index float16)
GENRES = (2, 500)  # fewest and most genres in a trained model


@dataclass
class TrainingSettings:
    """config.json's `training`: what every model's fit shares."""

    loss: str = setting("weighted_bce", choices=LOSSES)  # chosen by measurement: docs/benchmark.md, "Choosing the loss"
    focal_gamma: float = setting(2.0, 0.0, 10.0)
    class_weight_power: float = setting(0.5, 0.0, 2.0)
    batch_size: int = setting(64, 1, 4096)
    learning_rate: float = setting(2e-3, 1e-7, 1.0)  # the poster and overview models' (the fusion head has its own)
    patience: int = setting(4, 1, 1000)
    seed: int = setting(42, 0, 2**32 - 1)


@dataclass
class CalibrationSettings:
    """config.json's `calibration`: how thresholds are tuned on the validation split."""

    # A genre's own threshold is shrunk toward the global one by this pseudo-count.
    threshold_prior_strength: float = setting(20.0, 0.0, 1e6)
    # Genres a movie gets: on validation, the mean number predicted is held to this times the true mean
    # (1.4 there keeps test under 1.5; docs/benchmark.md, "How many genres a movie gets").
    max_genres_ratio: float = setting(1.4, 1.0, 10.0)


@dataclass
class GenreConfig:
    format_version: int = FORMAT_VERSION
    genres: list[str] = field(default_factory=list)  # filled from the training split; the models' output order
    split: SplitSpec = field(default_factory=SplitSpec)
    tokens: TokenSettings = field(default_factory=TokenSettings)
    poster: EncoderSettings = field(default_factory=PosterCnnSettings)
    overview: EncoderSettings = field(default_factory=OverviewLstmSettings)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)

    @classmethod
    def for_family(cls, family: str, **sections) -> "GenreConfig":
        """The defaults of a model family (see FAMILIES), with `sections` on top as config.json writes
        them (`poster={"kind": "keras_hub", "preset": "hf://owner/name"}`: another kind starts from
        that encoder's defaults), checked as a model folder's config is."""
        if family not in FAMILIES:
            raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
        values = FAMILIES[family]().to_dict()
        for name, given in sections.items():
            if name == "genres":
                values[name] = list(given)
                continue
            if not isinstance(values.get(name), dict) or not isinstance(given, dict):
                raise ValueError(f"{name!r} is not a section of the config: give one of "
                                 f"{', '.join(key for key, value in values.items() if isinstance(value, dict))} as a dict")
            kind = values[name].get("kind")
            values[name] = {**values[name], **given} if given.get("kind", kind) == kind else dict(given)
        return cls.from_dict(values)

    @property
    def num_genres(self) -> int:
        return len(self.genres)

    @property
    def image_size(self) -> int:
        """The side posters are decoded at: the poster encoder's."""
        return self.poster.image_size

    def encoders(self, tokenizer=None) -> dict:
        """The config's encoders by modality (`modeling.encoders.make_encoders`); nothing is loaded yet."""
        return make_encoders({"poster": self.poster, "overview": self.overview}, tokenizer, self.training.seed)

    def epochs(self, model: str) -> int:
        return (self.fusion if model == "fusion" else getattr(self, model)).epochs

    def learning_rate_of(self, model: str) -> float:
        """A model's learning rate (before any scaling with replicas): the fusion head has its own."""
        return self.fusion.learning_rate if model == "fusion" else self.training.learning_rate

    def schedule(self, model: str) -> str:
        """A model's learning-rate schedule: its encoder's, where it has one (the poster CNN's cosine won;
        for the others it tied or lost: docs/benchmark.md, "The from-scratch models' early best epoch")."""
        return getattr(getattr(self, model, None), "schedule", "constant")

    def to_dict(self) -> dict:
        return settings.to_dict(self)

    @classmethod
    def from_dict(cls, values) -> "GenreConfig":
        """A config from `config.json`'s values, every section strictly parsed (`settings.parse`): a
        ValueError says in one line what is wrong and where, never what a text in it says."""
        version = values.get("format_version") if isinstance(values, dict) else None
        if version != FORMAT_VERSION:
            raise ValueError(_version_advice(version))
        chooser = {modality: lambda section, m=modality: encoder_class(m, section.get("kind") if isinstance(section, dict) else None).Settings
                   for modality in MODALITIES}
        return settings.parse(cls, values, "", sections=chooser)

    def rules(self) -> list[str]:
        """What the sections' ranges cannot say: each modality's settings are its encoder's."""
        return [f"{modality} settings of kind {getattr(self, modality).kind!r} are not that encoder's"
                for modality in MODALITIES if not isinstance(getattr(self, modality), encoder_class(modality, getattr(self, modality).kind).Settings)]

    def problems(self, trained: bool = True) -> list[str]:
        """What is out of range (empty: it may be built). `trained`: a model folder's config, whose
        genres and sizes training filled in; its weights must also fit MAX_WEIGHT_BYTES."""
        found = settings.problems(self, "")
        if not trained or found:
            return found
        fewest, most = GENRES
        if not fewest <= len(self.genres) <= most:
            found.append(f"genres must name {fewest} to {most} genres, not {len(self.genres)}")
        elif any(not genre or len(genre) > MAX_GENRE_CHARS for genre in self.genres):
            found.append(f"every genre must be 1 to {MAX_GENRE_CHARS} characters")
        elif len(set(self.genres)) != len(self.genres):
            found.append("genres has duplicates")
        if self.tokens.sequence_length < 1:
            found.append("tokens.sequence_length must be positive in a trained model")
        for modality in MODALITIES:
            found += [f"{modality}: {rule}" for rule in getattr(getattr(self, modality), "trained_rules", list)()]
        if self.fusion.neighbour_k and reads_features(self.fusion, self.encoder_class("overview")) and self.fusion.neighbour_index_size < 1:
            found.append("fusion.neighbour_index_size must be positive: the neighbour vote needs an index")
        if not found and self.weight_bytes() > MAX_WEIGHT_BYTES:
            found.append(f"its weights would take {self.weight_bytes() / 2**20:,.0f} MB, over the {MAX_WEIGHT_BYTES / 2**20:,.0f} MB "
                         "any genre_hf model may")
        return found

    def encoder_class(self, modality: str) -> type:
        return encoder_class(modality, getattr(self, modality).kind)

    def weight_bytes(self) -> int:
        """An upper bound on the bytes of the three models' weights (float32; the neighbour index float16)."""
        genres, vocabulary = max(self.num_genres, 1), self.tokens.max_tokens
        total, joint = 0, genres if self.fusion.neighbour_k else 0
        for modality in MODALITIES:
            cls, section = self.encoder_class(modality), getattr(self, modality)
            embedding = cls.embedding_size(section)
            total += cls.trunk_weights(section, vocabulary) + (embedding + 1) * genres
            joint += cls.feature_size(section) if reads_features(self.fusion, cls) else embedding
        total += head_weights(self.fusion, joint, genres, vocabulary)
        index = 0
        if self.fusion.neighbour_k and reads_features(self.fusion, self.encoder_class("overview")):
            index = 2 * self.fusion.neighbour_index_size * (self.encoder_class("overview").feature_size(self.overview) + genres)
        return 4 * total + index

    def non_defaults(self) -> dict:
        """The choices that differ from the defaults of a plain GenreConfig, by dotted name, for the
        model card (what training records, such as a preset's pins, is not a choice)."""
        found = {}
        default = GenreConfig()
        for name in ("split", "tokens", "poster", "overview", "fusion", "training", "calibration"):
            section, base = getattr(self, name), getattr(default, name)
            if type(section) is not type(base):
                base = type(section)()
            for key, value in settings.to_dict(section).items():
                if key not in settings.recorded(section) and getattr(base, key) != value:
                    found[f"{name}.{key}"] = value
        return found

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


# A family is a config preset: its encoders and the settings that suit them. The pretrained text encoder
# already carries the word evidence the wide TF-IDF path adds to the LSTM (measured: it costs the pretrained
# fusion model mAP), its 512-unit trunk wants a wider joint head than the LSTM's 128, and its sentence
# embedding makes the neighbour vote worth its 3.5 MB; its poster encoder is ImageNet's EfficientNet-Lite0
# (docs/families.md).
FAMILIES = {
    "scratch": GenreConfig,
    "pretrained": lambda: GenreConfig(poster=PosterEfficientNetSettings(), overview=KerasHubTextSettings(),
                                      fusion=FusionSettings(wide_tfidf=False, hidden=512, dropout=0.5, neighbour_k=25)),
}


def _version_advice(version) -> str:
    reads = f"genre_hf {_package_version()} reads format version {FORMAT_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        return f"format version {version} is newer: {reads}; upgrade genre_hf (pip install -U genre_hf) to load it"
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return f"format version {version} was written by an earlier, unpublished genre_hf: {reads}; retrain the model"
    return f"format_version must be a whole number ({FORMAT_VERSION} for this genre_hf), not {settings.shown(version)}"


def _package_version() -> str:
    from genre_hf import __version__

    return __version__

