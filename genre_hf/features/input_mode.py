"""Where features live during a run: in memory when they are small, else streamed from an on-disk cache.

Decided once per run, before the data is read (so a Parquet file or a Hub dataset can be streamed
instead of loaded), from the number of movies the source reports and an estimate of their bytes.
"""

from __future__ import annotations

import math

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.modeling.encoders import MODALITIES
from genre_hf.modeling.encoders._base import TOKENS_INPUT

INPUT_MODES = ("auto", "memory", "stream")
MEMORY_LIMIT = 1 << 30  # features of all splits under this many bytes stay in memory


def estimated_bytes_per_movie(config: GenreConfig) -> int:
    """Feature bytes of one movie before the data is read (each encoder's guess; the wide path's token
    ids when the overview encoder does not read them already; the genres guessed)."""
    total = sum(config.encoder_class(modality).feature_bytes(getattr(config, modality), config.tokens) for modality in MODALITIES)
    if config.fusion.wide_tfidf and config.encoder_class("overview").input_name != TOKENS_INPUT:
        total += 4 * (config.tokens.sequence_length or 128)
    return total + 4 * (config.num_genres or 30)


def bytes_per_movie(specs: dict[str, tuple[tuple, str]], genres: int) -> int:
    """Feature bytes of one movie: every model input (see `Featurizer.input_specs`) and its labels."""
    return sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in specs.values()) + 4 * genres


def choose_input(mode: str, movies: int | None, per_movie: int, log=print) -> str:
    """"memory" or "stream": as asked, or (auto) in memory when all features take under MEMORY_LIMIT."""
    if mode not in INPUT_MODES:
        raise ValueError(f"input must be one of {INPUT_MODES}, not {mode!r}")
    streamed = "streamed from an on-disk feature cache"
    if mode != "auto":
        log(f"Input: {'in memory' if mode == 'memory' else streamed} (as asked)")
        return mode
    if movies is None:
        log(f"Input: {streamed} (the number of movies is not known before reading them)")
        return "stream"
    total = movies * per_movie
    choice = "memory" if total < MEMORY_LIMIT else "stream"
    log(
        f"Input: {'in memory' if choice == 'memory' else streamed}: {movies:,} movies x {per_movie / 1024:.1f} kB of features "
        f"= {total / 2**30:.2f} GB, {'under' if choice == 'memory' else 'over'} the {MEMORY_LIMIT / 2**30:.0f} GB limit for in-memory features"
    )
    return choice


def decide_input(mode: str, movies: int | None, config: GenreConfig, log=print) -> str:
    """A training run's input mode, decided once before the data is read (`estimated_bytes_per_movie`)."""
    return choose_input(mode, movies, estimated_bytes_per_movie(config), log)
