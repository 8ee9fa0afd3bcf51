"""Movies to the named arrays models read, and genre lists to multi-hot rows.

Training and prediction call the same `Featurizer`, so a movie is prepared the same way in both;
each poster is decoded and each overview encoded once, then reused by every epoch of every model.
`featurize` does it a chunk of movies at a time: `movie_features` keeps the chunks in memory, the
feature cache (`cache.py`) writes them to disk; both get the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.data.posters import poster_to_array
from genre_hf.modeling.encoders._base import TOKENS_INPUT, Encoder
from genre_hf.modeling.tokenizer import Tokenizer

CHUNK = 256  # movies featurized at a time: bounds the memory a pass over a split takes


def multi_hot(genre_lists, genres: list[str]) -> np.ndarray:
    """Rows of 0/1 per genre; genres outside the vocabulary are ignored."""
    index = {genre: i for i, genre in enumerate(genres)}
    labels = np.zeros((len(genre_lists), len(genres)), dtype=np.float32)
    for row, movie_genres in enumerate(genre_lists):
        for genre in movie_genres:
            if genre in index:
                labels[row, index[genre]] = 1.0
    return labels


class Featurizer:
    """Decoded posters and overview strings -> {model input name: array}, for any family.

    Each encoder turns its modality into its input; the wide TF-IDF path reads token ids too, which
    are computed once when the LSTM reads them as well.
    """

    def __init__(self, config: GenreConfig, encoders: dict[str, Encoder], tokenizer: Tokenizer):
        self.config, self.encoders, self.tokenizer = config, encoders, tokenizer
        self.wide_tokens = config.fusion.wide_tfidf  # the fusion head's wide path reads token ids too

    @property
    def image_size(self) -> int:
        return self.encoders["poster"].image_size

    def poster_inputs(self, decoded: np.ndarray) -> dict[str, np.ndarray]:
        encoder = self.encoders["poster"]
        return {encoder.input_name: encoder.features(decoded)}

    def overview_inputs(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoder = self.encoders["overview"]
        inputs = {encoder.input_name: encoder.features(texts)}
        if self.wide_tokens and TOKENS_INPUT not in inputs:
            inputs[TOKENS_INPUT] = self.tokenizer(texts)
        return inputs

    def blank_inputs(self, modality: str, count: int) -> dict[str, np.ndarray]:
        """Zeros in place of a missing modality (the fusion model ignores them: see models.ModalityGate)."""
        names = [self.encoders[modality].input_name] + ([TOKENS_INPUT] if modality == "overview" and self.wide_tokens else [])
        specs = self.input_specs()
        return {name: np.zeros((count, *specs[name][0]), specs[name][1]) for name in names}

    def input_specs(self) -> dict[str, tuple[tuple, str]]:
        specs = {encoder.input_name: encoder.input_spec() for encoder in self.encoders.values()}
        if self.wide_tokens:
            specs[TOKENS_INPUT] = ((self.tokenizer.sequence_length,), "int32")
        return specs


@dataclass
class MovieFeatures:
    """One split as model-ready arrays in memory, computed once and reused by every model and epoch."""

    ids: list[str]
    inputs: dict[str, np.ndarray]  # model input name -> N x ...
    labels: np.ndarray  # N x G float32
    overviews: list[str] = field(default_factory=list)  # for the text baselines
    genres: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def texts(self) -> dict[str, list]:
        """{"overview": [...], "genres": [...]}: what the text baselines read."""
        return {"overview": self.overviews, "genres": self.genres}


def featurize(batches, featurizer: Featurizer, report=None):
    """A `MovieFeatures` per batch of movies (see `data.iter_movies`): posters decoded at the
    config's image size, overviews encoded, genres made multi-hot.

    A movie whose poster cannot be decoded is skipped and counted in `report` (a `data.LoadReport`).
    """
    genres_known = featurizer.config.genres
    for batch in batches:
        ids, overviews, genres, posters = [], [], [], []
        for movie_id, overview, movie_genres, poster in zip(batch["id"], batch["overview"], batch["genres"], batch["poster"]):
            try:
                posters.append(poster_to_array(poster, featurizer.image_size))
            except ValueError:
                if report is not None:
                    report.skip("undecodable poster", movie_id)
                continue
            ids.append(movie_id)
            overviews.append(overview)
            genres.append(list(movie_genres))
        if ids:
            inputs = featurizer.poster_inputs(np.stack(posters))
            inputs.update(featurizer.overview_inputs(overviews))
            yield MovieFeatures(ids, inputs, multi_hot(genres, genres_known), overviews, genres)


def movie_features(movies, featurizer: Featurizer, report=None) -> MovieFeatures:
    """Inputs and labels of a cleaned `datasets.Dataset` (or a streamed `IterableDataset`), in memory."""
    from genre_hf.data.loader import iter_movies

    chunks = list(featurize(iter_movies(movies, CHUNK, report), featurizer, report))
    if not chunks:
        specs = featurizer.input_specs()
        empty = {name: np.zeros((0, *shape), dtype) for name, (shape, dtype) in specs.items()}
        return MovieFeatures([], empty, np.zeros((0, featurizer.config.num_genres), np.float32))
    inputs = {name: np.concatenate([chunk.inputs[name] for chunk in chunks]) for name in chunks[0].inputs}
    return MovieFeatures(
        [i for chunk in chunks for i in chunk.ids],
        inputs,
        np.concatenate([chunk.labels for chunk in chunks]),
        [text for chunk in chunks for text in chunk.overviews],
        [genres for chunk in chunks for genres in chunk.genres],
    )
