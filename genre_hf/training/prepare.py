"""Everything training derives from the data before a model is fitted, computed once per run.

`load_training_data` reads the source (choosing, once, whether features stay in memory or stream
from an on-disk cache); `prepare` makes one pass over the training split (genres, overview lengths,
vocabulary), records in the config what was learned and what the encoders pin, builds the tokenizer
and the encoders once, and featurizes every split. The `Prepared` record is passed down to the
models, the fitting and the calibration; nothing rebuilds it.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass

import numpy as np

from genre_hf import settings
from genre_hf.config import GenreConfig
from genre_hf.data.cleaning import ColumnNames, LoadReport
from genre_hf.data.loader import iter_movies, load_movies
from genre_hf.data.sources import Source
from genre_hf.features.cache import CachedFeatures, cached_features, feature_key
from genre_hf.features.featurizer import CHUNK, Featurizer, MovieFeatures, movie_features
from genre_hf.features.input_mode import decide_input
from genre_hf.modeling.encoders import MODALITIES
from genre_hf.modeling.encoders._base import Encoder
from genre_hf.modeling.tokenizer import Tokenizer, TokenSettings

SPLITS = ("train", "validation", "test")


@dataclass
class Prepared:
    """What training derived from the data: the config completed with it, the tokenizer, encoders
    and featurizer built from that config, and every split's features."""

    config: GenreConfig  # with the genres, sequence length, encoder pins and neighbour index size filled in
    tokenizer: Tokenizer
    encoders: dict[str, Encoder]
    featurizer: Featurizer
    splits: dict[str, MovieFeatures | CachedFeatures]  # train, validation and (when the data has one) test
    seconds: float = 0.0
    input: str = "memory"  # where the features are: "memory", or "stream" (an on-disk cache)

    @property
    def train(self) -> MovieFeatures | CachedFeatures:
        return self.splits["train"]

    @property
    def validation(self) -> MovieFeatures | CachedFeatures:
        return self.splits["validation"]


def load_training_data(source: str | Source, config: GenreConfig, columns: ColumnNames | None = None, input: str = "auto", log=print):
    """(movies, load report, input mode): the source loaded, split and checked for training.

    The input mode is decided here, once, before anything is read: a Parquet file or a Hub dataset
    whose features would not fit in memory is then streamed rather than loaded.
    """
    source = Source.of(source)
    input = decide_input(input, source.count() if input == "auto" else None, config, log)
    movies, report = load_movies(source, columns=columns, split=config.split, streaming=input == "stream")
    log(str(report))
    for split in ("train", "validation"):
        if split not in movies or (not report.streamed and len(movies[split]) == 0):
            raise ValueError(f"the data has no usable {split} movies; see the report above")
    return movies, report, input


def prepare(
    config: GenreConfig,
    movies,
    log=print,
    *,
    input: str = "memory",
    cache_dir=None,
    source: dict | str | None = None,
    report: LoadReport | None = None,
) -> Prepared:
    """Genres, vocabulary and sequence length from a pass over the training split; features for every split.

    `movies` is a `DatasetDict` or a streamed `IterableDatasetDict`. Features are kept in memory
    (`input` "memory") or written to an on-disk cache ("stream"); `source` (`Source.fingerprint`)
    names the data in the cache's key, so a later run reuses it. `report` gets the rows read and
    skipped while featurizing. Returns a new config with what was learned from the data; the given
    one is left as it was.
    """
    started = time.perf_counter()
    genres, lengths, vocabulary = scan_train(config, movies["train"])
    if not lengths:
        raise ValueError("the data has no usable train movies; see the report above")
    if len(genres) < 2:
        raise ValueError(f"the training movies have {len(genres)} genre ({', '.join(genres)}): a model that tells genres apart "
                         "needs at least two")
    tokens = config.tokens
    if not tokens.sequence_length:
        tokens = dataclasses.replace(tokens, sequence_length=choose_sequence_length(lengths, tokens.sequence_percentile))
    config = dataclasses.replace(  # what the encoders pin, e.g. a pretrained encoder's revision, weights hash and feature size
        config, genres=genres, tokens=tokens, **{m: config.encoder_class(m).pinned(getattr(config, m)) for m in MODALITIES})
    tokenizer = Tokenizer(config.tokens, vocabulary)
    encoders = config.encoders(tokenizer)
    featurizer = Featurizer(config, encoders, tokenizer)
    names = [name for name in SPLITS if name in movies]
    if input == "memory":
        splits = {name: movie_features(movies[name], featurizer, report) for name in names}
    else:
        source = source if source is not None else f"unnamed-{uuid.uuid4().hex}"  # data given in code: a cache for this run only
        splits = {name: cached_features(movies[name], featurizer, feature_key(featurizer, source, name), cache_dir, report, log)
                  for name in names}
    if report is not None:
        report.rows_kept = {name: len(split) for name, split in splits.items()}
    if config.fusion.neighbour_k:  # the neighbour vote's index holds the training movies, known once they are featurized
        config = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, neighbour_index_size=len(splits["train"])))
    seconds = time.perf_counter() - started
    log(
        f"Prepared {', '.join(f'{len(split):,} {name}' for name, split in splits.items())} movies in {seconds:.1f} s: "
        f"{config.num_genres} genres, {len(tokenizer.vocabulary):,} tokens, sequences of {config.tokens.sequence_length} tokens, "
        f"posters of {config.image_size} px"
    )
    return Prepared(config, tokenizer, encoders, featurizer, splits, seconds, input)


def scan_train(config: GenreConfig, train) -> tuple[list[str], list[int], list[str]]:
    """(genres, overview lengths in words, vocabulary) from one pass over the training split, a chunk
    at a time (a streamed split too): the vocabulary is adapted on the overviews as they go by."""
    genres: set[str] = set()
    lengths: list[int] = []

    def overviews():
        for batch in iter_movies(train, CHUNK):
            for text, movie_genres in zip(batch["overview"], batch["genres"]):
                genres.update(movie_genres)
                lengths.append(len(text.split()))
                yield text

    vocabulary = Tokenizer.adapt(config.tokens, overviews()).vocabulary
    return sorted(genres), lengths, vocabulary


def choose_sequence_length(texts, percentile: float) -> int:
    """Cover `percentile` % of overviews in full (overviews average ~26 words, so 200 is waste), within
    the most a sequence may be (`TokenSettings.sequence_length`).

    `texts` are overviews or their lengths in words (what a pass over a streamed split keeps)."""
    lengths = [text if isinstance(text, int) else len(text.split()) for text in texts]
    return min(settings.bounds(TokenSettings, "sequence_length")[1], max(8, int(np.ceil(np.percentile(lengths, percentile)))))
