"""Features on disk for data larger than memory: a cache built once per split, read by tf.data.

Training keeps features in memory when they are small (faster: nothing is read from disk) and uses
this cache otherwise (`input_mode.choose_input`). A split's cache is a folder of `.npy` files, one per model
input plus the labels, written a chunk of movies at a time by the same `featurize` the in-memory
path uses, so both give the same arrays. Its name is a hash of everything that determines the
features (`feature_key`): the source (its files' sizes and times, or a Hub dataset's commit), the
split and how it was cut, the poster size, the encoders (a pretrained one's pinned revision), the
vocabulary, sequence length and genres. A later run with the same key reads the cache instead of
decoding again; a folder appears only once it is complete.

Nothing here maps a file into memory: rows are read with ordinary file reads (tf.data's
`FixedLengthRecordDataset`, or `NpyArray` for evaluation), which go through the page cache, so a
process's resident memory stays flat however large the files are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf import reading, staging
from genre_hf.features.featurizer import CHUNK, featurize
from genre_hf.features.npy import NpyArray, NpyWriter
from genre_hf.staging import default_cache_dir

CACHE_VERSION = 1  # bump when featurization changes what it writes for the same key
LABELS_FILE, IDS_FILE, META_FILE = "labels.npy", "movies.jsonl", "meta.json"


@dataclass
class CachedFeatures:
    """One split's features in a cache folder: the inputs stay on disk, the labels (N x G) are read."""

    folder: Path
    ids: list[str]
    inputs: dict[str, NpyArray]
    labels: np.ndarray
    label_file: NpyArray

    def __len__(self) -> int:
        return len(self.ids)

    def texts(self) -> dict[str, list]:
        """{"overview": [...], "genres": [...]}: what the text baselines read."""
        overviews, genres = [], []
        with open(self.folder / IDS_FILE, encoding="utf-8") as handle:
            for line in handle:
                movie = json.loads(line)
                overviews.append(movie["overview"])
                genres.append(movie["genres"])
        return {"overview": overviews, "genres": genres}

    @property
    def overviews(self) -> list[str]:
        return self.texts()["overview"]

    @classmethod
    def open(cls, folder: Path) -> "CachedFeatures":
        meta = _meta(folder)
        with open(folder / IDS_FILE, encoding="utf-8") as handle:
            ids = [json.loads(line)["id"] for line in handle]
        inputs = {name: NpyArray(folder / f"{name}.npy") for name in meta["inputs"]}
        label_file = NpyArray(folder / LABELS_FILE)
        if any(len(array) != len(ids) for array in (*inputs.values(), label_file)):
            raise ValueError(f"the feature cache {folder} is inconsistent: delete it")
        return cls(folder, ids, inputs, np.asarray(label_file), label_file)


def feature_key(featurizer, source: dict | str, split: str) -> dict:
    """Everything the features of one split depend on (see the module docstring); `source` is the
    data's fingerprint (`Source.fingerprint`)."""
    config, vocabulary = featurizer.config, featurizer.tokenizer.vocabulary
    key = {
        "cache_version": CACHE_VERSION,
        "source": source,
        "split": split,
        "split_spec": [config.split.validation, config.split.test, config.split.salt],
        "image_size": config.image_size,
        "poster_encoder": config.poster.kind,
        "overview_encoder": config.overview.kind,
        "vocabulary_sha256": hashlib.sha256("\n".join(vocabulary).encode()).hexdigest(),
        "sequence_length": config.tokens.sequence_length,
        "wide_tfidf": featurizer.wide_tokens,
        "genres": config.genres,
    }
    for encoder in featurizer.encoders.values():  # e.g. a pretrained encoder's preset and pins
        key.update(encoder.feature_key())
    return key


def cached_features(movies, featurizer, key: dict, cache_dir: str | Path | None = None, report=None, log=print) -> CachedFeatures:
    """The split's features from its cache folder, built first (a chunk of movies at a time) if missing.

    `report` (a `data.LoadReport`) gets the rows read and skipped while building, or, when the cache
    is reused, those recorded when it was built.
    """
    from genre_hf.data.cleaning import LoadReport
    from genre_hf.data.loader import iter_movies

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    folder = Path(cache_dir or default_cache_dir()) / "features" / f"{key['split']}-{digest}"
    if (folder / META_FILE).is_file():
        features = CachedFeatures.open(folder)
        counts = _meta(folder)["counts"]
        log(f"  {key['split']}: {len(features):,} movies from the feature cache {folder}")
    else:
        started = time.perf_counter()
        counts = LoadReport(source="")
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.remove_abandoned(folder.parent, staging.pattern(folder.name))  # a builder killed midway
        staging_folder = folder.with_name(staging.name(folder.name, uuid.uuid4().hex[:12]))  # one per builder
        staging_folder.mkdir()
        try:
            rows = _write_cache(staging_folder, featurize(iter_movies(movies, CHUNK, counts), featurizer, counts), featurizer, key, counts)
            try:
                os.rename(staging_folder, folder)
            except OSError:  # another process built the same cache meanwhile: keep theirs
                if not (folder / META_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(staging_folder, ignore_errors=True)
        features = CachedFeatures.open(folder)
        counts = _meta(folder)["counts"]
        log(f"  {key['split']}: {rows:,} movies featurized into {folder} in {time.perf_counter() - started:.1f} s")
    if report is not None:
        report.add_counts(counts)
    return features


def _write_cache(folder: Path, chunks, featurizer, key: dict, counts) -> int:
    specs = featurizer.input_specs()
    writers = {name: NpyWriter(folder / f"{name}.npy", shape, dtype) for name, (shape, dtype) in specs.items()}
    labels = NpyWriter(folder / LABELS_FILE, (featurizer.config.num_genres,), np.float32)
    with open(folder / IDS_FILE, "w", encoding="utf-8") as movies:
        for chunk in chunks:
            for name, writer in writers.items():
                writer.append(chunk.inputs[name])
            labels.append(chunk.labels)
            for movie_id, overview, genres in zip(chunk.ids, chunk.overviews, chunk.genres):
                movies.write(json.dumps({"id": movie_id, "overview": overview, "genres": genres}, ensure_ascii=False) + "\n")
    for writer in (*writers.values(), labels):
        writer.close()
    meta = {
        "key": key,
        "rows": labels.rows,
        "inputs": {name: {"shape": list(shape), "dtype": dtype} for name, (shape, dtype) in specs.items()},
        "counts": {"rows_in": counts.rows_in, "skipped": dict(counts.skipped), "skipped_examples": counts.skipped_examples},
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")  # written last: marks the folder complete
    return labels.rows


def _meta(folder: Path) -> dict:
    """A cache's meta.json, read as every JSON file is (`reading`): a damaged cache is an error naming it."""
    return reading.read_json(folder / META_FILE, 16 * reading.MB, f"{META_FILE} of the feature cache {folder}")
