"""The range of every config value, and what a model may cost, checked before anything is built.

A model folder comes from anyone (a Hub repo is written by its owner), so `config.json` is checked
against these ranges before a layer exists: a size, length, unit count or count out of range is
refused, and so is a config whose weights would take over MAX_WEIGHT_BYTES. The ranges are wide
around what is used (the shipped models weigh 13-14 MB; README, "Hardening" lists them), so any folder
that passes loads in bounded memory and time. Predicting splits a batch into passes of at most
MAX_PASS_BYTES of activations (`rows_per_pass`), so a large poster size cannot blow up a forward pass.
"""

from __future__ import annotations

import math
import re

from genre_hf.config import LOSSES, SCHEDULES, GenreConfig

MAX_WEIGHT_BYTES = 256 * 2**20  # what the weights of any accepted config may take (float32, the index float16)
MAX_PASS_BYTES = 512 * 2**20  # activations of one forward pass, roughly
MAX_ROWS_PER_PASS = 256

INTS = {  # field -> (lowest, highest)
    "image_size": (16, 512), "text_sequence_length": (8, 512), "text_embedding_dim": (0, 16384), "text_head_units": (1, 4096),
    "image_embedding_dim": (0, 16384), "image_head_units": (1, 4096), "max_tokens": (3, 200_000), "sequence_length": (0, 1024),
    "cnn_stem_stride": (1, 4), "cnn_embedding": (1, 2048), "embedding_dim": (1, 1024), "lstm_units": (1, 1024),
    "text_embedding": (1, 2048), "fusion_hidden": (1, 8192), "neighbour_k": (0, 500), "neighbour_index_size": (0, 500_000),
    "batch_size": (1, 4096), "epochs_poster": (1, 1000), "epochs_overview": (1, 1000), "epochs_fusion": (1, 1000),
    "patience": (1, 1000), "seed": (0, 2**32 - 1),
}
FLOATS = {
    "validation_fraction": (0.0, 0.9), "test_fraction": (0.0, 0.9), "sequence_percentile": (1.0, 100.0),
    "text_input_dropout": (0.0, 0.95), "text_head_dropout": (0.0, 0.95), "image_input_dropout": (0.0, 0.95),
    "image_head_dropout": (0.0, 0.95), "cnn_dropout": (0.0, 0.95), "text_dropout": (0.0, 0.95), "spatial_dropout": (0.0, 0.95),
    "fusion_dropout": (0.0, 0.95), "modality_dropout": (0.0, 0.5), "bag_of_words_l2": (0.0, 1.0), "wide_l2": (0.0, 1.0),
    "neighbour_temperature": (1e-3, 10.0), "wide_scale": (1e-3, 1000.0), "focal_gamma": (0.0, 10.0), "class_weight_power": (0.0, 2.0),
    "learning_rate": (1e-7, 1.0), "fusion_learning_rate": (1e-7, 1.0), "threshold_prior_strength": (0.0, 1e6),
    "max_genres_ratio": (1.0, 10.0),
}
LISTS = {  # field -> (fewest items, most items, each item's (lowest, highest))
    "cnn_filters": (1, 8, (1, 1024)), "text_layers": (1, 25, (0, 48)),
}
TEXTS = {  # field -> the most characters
    "text_preset": 500, "image_preset": 500, "split_salt": 200,
}
PINS = {"text_preset_revision": 40, "image_preset_revision": 40, "text_preset_sha256": 64, "image_preset_sha256": 64}
GENRES = (2, 500, 40)  # fewest and most genres in a trained model, most characters in a genre's name


def problems(config: GenreConfig, trained: bool = True) -> list[str]:
    """What is out of range in `config`, in words (empty: it may be built). `trained`: a model
    folder's config, whose genres and sizes training filled in."""
    found = []
    for name, (low, high) in INTS.items():
        value = getattr(config, name)
        if not low <= value <= high:
            found.append(f"{name} must be a whole number from {low:,} to {high:,}, not {value:,}")
    for name, (low, high) in FLOATS.items():
        value = getattr(config, name)
        if not (math.isfinite(value) and low <= value <= high):
            found.append(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
    for name, (fewest, most, (low, high)) in LISTS.items():
        values = getattr(config, name)
        if not fewest <= len(values) <= most or not all(low <= value <= high for value in values):
            found.append(f"{name} must hold {fewest} to {most} whole numbers from {low} to {high}")
    for name, most in TEXTS.items():
        if len(getattr(config, name)) > most:
            found.append(f"{name} must be at most {most} characters")
    for name, length in PINS.items():
        value = getattr(config, name)
        if value and not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            found.append(f"{name} must be empty or {length} hexadecimal digits")
    if config.validation_fraction + config.test_fraction >= 1:
        found.append("validation_fraction and test_fraction must leave movies to train on")
    if config.loss not in LOSSES:
        found.append(f"loss must be one of {', '.join(LOSSES)}")
    if config.poster_schedule not in SCHEDULES:
        found.append(f"poster_schedule must be one of {', '.join(SCHEDULES)}")
    if trained:
        fewest, most, longest = GENRES
        if not fewest <= len(config.genres) <= most:
            found.append(f"genres must name {fewest} to {most} genres, not {len(config.genres)}")
        elif any(not genre or len(genre) > longest for genre in config.genres):
            found.append(f"every genre must be 1 to {longest} characters")
        elif len(set(config.genres)) != len(config.genres):
            found.append("genres has duplicates")
        if config.sequence_length < 1:
            found.append("sequence_length must be positive")
        if config.overview_encoder == "keras_hub" and config.text_embedding_dim < 1:
            found.append("text_embedding_dim must be positive for a keras_hub overview encoder")
        if config.poster_encoder == "keras_hub" and config.image_embedding_dim < 1:
            found.append("image_embedding_dim must be positive for a keras_hub poster encoder")
        if config.neighbour_k and config.overview_encoder == "keras_hub" and (
                config.text_embedding_dim % max(len(config.text_layers), 1) or config.neighbour_index_size < 1):
            found.append("text_embedding_dim must split evenly over text_layers, and the neighbour vote needs an index")
    if not found and weight_bytes(config) > MAX_WEIGHT_BYTES:
        found.append(f"its weights would take {weight_bytes(config) / 2**20:,.0f} MB, over the {MAX_WEIGHT_BYTES / 2**20:,.0f} MB "
                     "any genre_hf model may")
    return found


def weight_bytes(config: GenreConfig) -> int:
    """An upper bound on the bytes of the three models' weights (float32; the neighbour index float16)."""
    genres, vocabulary = max(config.num_genres, 1), config.max_tokens
    if config.poster_encoder == "keras_hub":
        poster_features = config.image_embedding_dim
        poster = poster_features * config.image_head_units + config.image_head_units
        poster_embedding = config.image_head_units
    else:
        widths = [3, *config.cnn_filters]
        poster = sum(9 * a * b + 4 * b for a, b in zip(widths, widths[1:])) + widths[-1] * config.cnn_embedding + config.cnn_embedding
        poster_embedding = poster_features = config.cnn_embedding
    if config.overview_encoder == "keras_hub":
        text_features = config.text_embedding_dim
        text = text_features * config.text_head_units + config.text_head_units
        text_embedding = config.text_head_units
    else:
        e, u, t = config.embedding_dim, config.lstm_units, config.text_embedding
        text = vocabulary * e + 2 * (4 * u * (e + u) + 4 * u) + (vocabulary * t + t if config.bag_of_words else 0)
        text += (2 * u + (t if config.bag_of_words else 0)) * t + t
        text_embedding = text_features = t
    frozen = {"poster": config.poster_encoder == "keras_hub", "overview": config.overview_encoder == "keras_hub"}
    joint = (poster_features if frozen["poster"] and config.fusion_reads_features else poster_embedding)
    joint += (text_features if frozen["overview"] and config.fusion_reads_features else text_embedding)
    joint += genres if config.neighbour_k else 0
    heads = (poster_embedding + text_embedding + 2) * genres
    fusion = joint * config.fusion_hidden + config.fusion_hidden + (config.fusion_hidden + 1) * genres
    wide = vocabulary + vocabulary * genres + genres if config.wide_tfidf else 0
    index = 0
    if config.neighbour_k and frozen["overview"]:
        index = 2 * config.neighbour_index_size * (config.text_embedding_dim // max(len(config.text_layers), 1) + genres)
    return 4 * (poster + text + heads + fusion + wide) + index


def rows_per_pass(config: GenreConfig) -> int:
    """Movies a forward pass reads at a time: up to MAX_ROWS_PER_PASS, fewer when a movie's activations
    are large (a big poster size, a long vocabulary), so a pass stays near MAX_PASS_BYTES."""
    per_movie = 4 * 3 * config.image_size**2 * 2  # the poster in float, and its first convolution's map at most as large
    if config.poster_encoder != "keras_hub":
        stride = config.cnn_stem_stride
        per_movie += 4 * 3 * (config.image_size // stride) ** 2 * config.cnn_filters[0]  # convolution, normalisation, activation
    per_movie += 4 * config.sequence_length * (2 * config.embedding_dim + 2 * config.lstm_units)
    per_movie += 4 * 2 * config.max_tokens  # the bag of words and the TF-IDF vector
    return max(1, min(MAX_ROWS_PER_PASS, MAX_PASS_BYTES // per_movie))
