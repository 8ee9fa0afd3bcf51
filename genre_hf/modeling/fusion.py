"""The fusion head's settings and what follows from them before anything is built: whether it reads
a frozen encoder's features whole, whether it has a neighbour vote, its weights' and activations'
size, and the card's sentence. The head itself is a Keras layer (`fusion_head.FusionHead`); this module
imports nothing heavy, since the config imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre_hf.modeling.encoders._base import FLOAT
from genre_hf.settings import setting

MODALITIES_INPUT = "modalities"  # N x 2 of 1/0: whether the poster / overview is given
MAX_PASS_BYTES = 512 * 2**20  # activations of one forward pass, roughly
MAX_ROWS_PER_PASS = 256


@dataclass
class FusionSettings:
    """config.json's `fusion`."""

    hidden: int = setting(128, 1, 8192)
    dropout: float = setting(0.4, 0.0, 0.95)
    modality_dropout: float = setting(0.15, 0.0, 0.5)  # in training, one modality of this fraction of movies blanked
    # A frozen pretrained encoder's features go into the joint head whole, not through its trunk.
    reads_features: bool = setting(True)
    # The head learns on the trunks' embeddings computed once (no augmentation or trunk dropout then):
    # 4x faster than running the frozen trunks every batch, quality within the seed spread
    # (docs/scaling.md). Off, on streamed features or under a strategy: through the trunks.
    on_stored_embeddings: bool = setting(True)
    # With a frozen text encoder: the genres of the `neighbour_k` nearest training overviews (0: none),
    # weighted by softmax(similarity / neighbour_temperature).
    neighbour_k: int = setting(0, 0, 500)
    neighbour_temperature: float = setting(0.05, 1e-3, 10.0)
    neighbour_index_size: int = setting(0, 0, 500_000, recorded=True)  # training movies in its index, set by training
    wide_tfidf: bool = setting(True)
    wide_scale: float = setting(30.0, 1e-3, 1000.0)
    wide_l2: float = setting(3e-6, 0.0, 1.0)
    learning_rate: float = setting(2e-3, 1e-7, 1.0)
    epochs: int = setting(15, 1, 1000)


def reads_features(settings: FusionSettings, encoder) -> bool:
    """Whether the head reads the encoder's features themselves rather than its trunk's embedding: a
    general-purpose embedding the head can use whole, where the trunk's is a bottleneck trained for
    that modality alone."""
    return encoder.frozen and settings.reads_features


def votes(settings: FusionSettings, encoders: dict) -> bool:
    """Whether the head has a neighbour vote: asked for, and the text encoder's features (read whole)
    hold a sentence embedding."""
    overview = encoders["overview"]
    return bool(settings.neighbour_k) and reads_features(settings, overview) and overview.sentence_span() is not None


def head_weights(settings: FusionSettings, joint: int, genres: int, vocabulary: int) -> int:
    """How many weights the fusion head has on a joint input of `joint` numbers (the neighbour index aside)."""
    wide = vocabulary + vocabulary * genres + genres if settings.wide_tfidf else 0
    return joint * settings.hidden + settings.hidden + (settings.hidden + 1) * genres + wide


def head_pass_bytes(settings: FusionSettings, vocabulary: int) -> int:
    """Roughly a movie's activation bytes in the head beyond the trunks': the TF-IDF vector, vocabulary wide."""
    return FLOAT * vocabulary if settings.wide_tfidf else 0


def card_description(settings: FusionSettings, encoders: dict) -> str:
    """What the model card says about the fusion model (Markdown)."""
    text = (f"both encoders, their embeddings concatenated into a joint head (modality dropout {settings.modality_dropout:g}, so "
            "either input alone also works)")
    if settings.wide_tfidf:
        text += ", plus a wide TF-IDF layer on the overview's words"
    if reads_features(settings, encoders["overview"]):
        text += "; the head reads the frozen text encoder's features whole"
    if votes(settings, encoders):
        text += (f", with a neighbour vote: the genres of the {settings.neighbour_k} training movies whose overviews are nearest "
                 "(their embeddings are stored in the weights)")
    return text + "."


def rows_per_pass(encoders: dict, fusion: FusionSettings, tokens) -> int:
    """Movies a forward pass reads at a time: up to MAX_ROWS_PER_PASS, fewer when a movie's activations
    are large (a big poster size, a long vocabulary), so a pass stays near MAX_PASS_BYTES."""
    per_movie = sum(type(encoder).pass_bytes(encoder.settings, tokens) for encoder in encoders.values())
    per_movie += head_pass_bytes(fusion, tokens.max_tokens)
    return max(1, min(MAX_ROWS_PER_PASS, MAX_PASS_BYTES // max(per_movie, 1)))
