"""Features on disk for data larger than memory: a cache built once per split, read by tf.data.

Training keeps features in memory when they are small (faster: nothing is read from disk) and uses
this cache otherwise (`choose_input`). A split's cache is a folder of `.npy` files, one per model
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
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.features.featurizer import CHUNK, MovieFeatures, featurize
from genre_hf.modeling.encoders import make_encoders

CACHE_VERSION = 1  # bump when featurization changes what it writes for the same key
INPUT_MODES = ("auto", "memory", "stream")
MEMORY_LIMIT = 1 << 30  # features of all splits under this many bytes stay in memory
BLOCK_ROWS = 128  # training reads the cache in blocks of rows, the blocks in a new random order each epoch...
READ_CYCLE = 16  # ...interleaving this many blocks at a time...
SHUFFLE_BYTES = 32 << 20  # ...and shuffling rows in a buffer of this size
LABELS_FILE, IDS_FILE, META_FILE = "labels.npy", "movies.jsonl", "meta.json"


def default_cache_dir() -> Path:
    """$GENRE_HF_CACHE, else genre_hf/ in the Hugging Face cache ($HF_HOME, ~/.cache/huggingface)."""
    if os.environ.get("GENRE_HF_CACHE"):
        return Path(os.environ["GENRE_HF_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "genre_hf"


# ---- choosing the path ------------------------------------------------------------------------


def estimated_bytes_per_movie(config: GenreConfig) -> int:
    """Feature bytes of one movie before the data is read (sequence length and genres guessed)."""
    sequence = config.sequence_length or 128
    text = 4 * sequence if config.overview_encoder == "lstm" or config.wide_tfidf else 0
    if config.overview_encoder == "keras_hub":
        text += 4 * (config.text_embedding_dim or 384 * len(config.text_layers))
    return config.image_size**2 * 3 + text + 4 * (config.num_genres or 30)


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


# ---- .npy files written a chunk at a time, read a range at a time ---------------------------------


class NpyWriter:
    """A .npy file appended to a chunk of rows at a time; the header gets the final row count on close.

    numpy pads a header so its length does not depend on the first dimension (it leaves room for
    21 digits), so rewriting it in place never moves the data.
    """

    def __init__(self, path: Path, row_shape: tuple, dtype):
        self.path, self.row_shape = Path(path), tuple(row_shape)
        self.dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
        self.rows = 0
        self.handle = open(self.path, "wb")
        self.offset = self._write_header()

    def _write_header(self) -> int:
        self.handle.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows, *self.row_shape)}
        np.lib.format.write_array_header_1_0(self.handle, header)
        return self.handle.tell()

    def append(self, rows: np.ndarray) -> None:
        if tuple(rows.shape[1:]) != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        np.ascontiguousarray(rows, dtype=self.dtype).tofile(self.handle)
        self.rows += len(rows)

    def close(self) -> None:
        end = self.handle.tell()
        if self._write_header() != self.offset:  # cannot happen with numpy's padded headers; never write garbage
            raise RuntimeError(f"{self.path.name}: the .npy header changed length")
        self.handle.seek(end)
        self.handle.close()


class NpyArray:
    """A read-only .npy file on disk that reads only the rows asked for, with file reads (never a
    memory map: mapped pages would count as the process's memory). Slices, integers, iteration
    (a chunk of rows read at a time) and `np.asarray` (everything) work as on an array."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, self.dtype = read_header(handle)
            self.offset = handle.tell()
        if fortran_order or not shape:
            raise ValueError(f"{self.path} is not a C-ordered array of rows")
        self.shape = tuple(shape)
        self.row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        self.file_bytes = self.path.stat().st_size
        if self.file_bytes != self.offset + self.shape[0] * self.row_bytes:
            raise ValueError(f"{self.path} is truncated or damaged: {self.file_bytes:,} bytes for shape {self.shape}")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(len(self), stop)
        count = max(0, stop - start)
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self.row_bytes)
            rows = np.fromfile(handle, dtype=self.dtype, count=count * math.prod(self.shape[1:]))
        return rows.reshape((count, *self.shape[1:]))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"row {key} of {len(self)}")
            return self.read(index, index + 1)[0]
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            return self.read(start, stop)
        raise TypeError(f"NpyArray reads integer rows and contiguous slices, not {key!r}")

    def __iter__(self):
        for start in range(0, len(self), 4096):
            yield from self.read(start, start + 4096)

    def __array__(self, dtype=None, copy=None):
        rows = self.read(0, len(self))
        return rows if dtype is None else rows.astype(dtype)


# ---- the cache of one split --------------------------------------------------------------------


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
        meta = json.loads((folder / META_FILE).read_text())
        with open(folder / IDS_FILE, encoding="utf-8") as handle:
            ids = [json.loads(line)["id"] for line in handle]
        inputs = {name: NpyArray(folder / f"{name}.npy") for name in meta["inputs"]}
        label_file = NpyArray(folder / LABELS_FILE)
        if any(len(array) != len(ids) for array in (*inputs.values(), label_file)):
            raise ValueError(f"the feature cache {folder} is inconsistent: delete it")
        return cls(folder, ids, inputs, np.asarray(label_file), label_file)


def feature_key(config: GenreConfig, vocabulary: list[str], source: dict | str, split: str) -> dict:
    """Everything the features of one split depend on (see the module docstring)."""
    key = {
        "cache_version": CACHE_VERSION,
        "source": source,
        "split": split,
        "split_spec": [config.validation_fraction, config.test_fraction, config.split_salt],
        "image_size": config.image_size,
        "poster_encoder": config.poster_encoder,
        "overview_encoder": config.overview_encoder,
        "vocabulary_sha256": hashlib.sha256("\n".join(vocabulary).encode()).hexdigest(),
        "sequence_length": config.sequence_length,
        "wide_tfidf": config.wide_tfidf,
        "genres": config.genres,
    }
    for encoder in make_encoders(config).values():  # e.g. a pretrained encoder's preset and pins
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
        counts = json.loads((folder / META_FILE).read_text())["counts"]
        log(f"  {key['split']}: {len(features):,} movies from the feature cache {folder}")
    else:
        started = time.perf_counter()
        counts = LoadReport(source="")
        staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:12]}.partial")  # one per builder
        staging.mkdir(parents=True)
        try:
            rows = _write_cache(staging, featurize(iter_movies(movies, CHUNK, counts), featurizer, counts), featurizer, key, counts)
            try:
                os.rename(staging, folder)
            except OSError:  # another process built the same cache meanwhile: keep theirs
                if not (folder / META_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        features = CachedFeatures.open(folder)
        counts = json.loads((folder / META_FILE).read_text())["counts"]
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


# ---- tf.data pipelines ----------------------------------------------------------------------------


def input_pipeline(features, names: list[str], batch_size: int, shuffle: bool, seed: int, context=None, modalities: bool = False):
    """Batches of ({input name: tensor}, labels) for `fit`, from in-memory or cached features.

    `context` (a `tf.distribute.InputContext`) says which shard this input pipeline reads and how
    many replicas it feeds; each batch is one replica's (`batch_size` movies). `shuffle` (training)
    shuffles every epoch; `modalities` adds the fusion model's "both present" input.

    With several replicas, every replica must get a batch of the same size at each step, or
    BatchNormalization sees an empty batch (NaN statistics) and Keras cannot build on the first
    step's batches; so training reads the same number of full steps on every pipeline (the last,
    incomplete step is left out, a different remainder each epoch), and evaluation takes batches
    small enough that the first step is full (a later step may leave a replica without movies,
    which evaluation tolerates).
    """
    import tensorflow as tf

    from genre_hf.modeling.models import MODALITIES_INPUT

    pipelines, index = (context.num_input_pipelines, context.input_pipeline_id) if context else (1, 0)
    local = context.num_replicas_in_sync // pipelines if context else 1  # replicas this pipeline feeds
    if not isinstance(features, (CachedFeatures, MovieFeatures)):
        raise TypeError(f"features must be MovieFeatures or CachedFeatures, not {type(features).__name__}")
    counts = [len(_shard(features, pipelines, p)) for p in range(pipelines)]
    if min(counts) < local:
        raise ValueError(f"{len(features):,} movies are too few for {pipelines * local} replicas")
    if pipelines * local == 1:
        batches = math.ceil(counts[index] / batch_size)
    elif shuffle:
        batch_size = min(batch_size, min(counts) // local)
        batches = min(counts) // (local * batch_size) * local
    else:
        batch_size = min(batch_size, min(counts) // local)
        batches = math.ceil(counts[index] / batch_size)
    rows = _shard(features, pipelines, index)
    if isinstance(features, CachedFeatures):
        dataset = _cache_rows(features, names, rows, shuffle, seed, batch_size)
    else:
        dataset = tf.data.Dataset.from_tensor_slices(({name: features.inputs[name] for name in names}, features.labels))
        if pipelines > 1:
            dataset = dataset.shard(pipelines, index)
        if shuffle:
            dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
    dataset = dataset.take(batches).apply(tf.data.experimental.assert_cardinality(batches))
    if modalities:
        dataset = dataset.map(lambda inputs, labels: ({**inputs, MODALITIES_INPUT: tf.ones((tf.shape(labels)[0], 2))}, labels))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _shard(features, pipelines: int, index: int) -> range:
    """The rows pipeline `index` of `pipelines` reads: in memory every pipelines-th row, from the
    cache a contiguous share (read in blocks), so shards differ by one row at most."""
    total = len(features)
    if isinstance(features, MovieFeatures):
        return range(index, total, pipelines)
    return range(total * index // pipelines, total * (index + 1) // pipelines)


def _cache_rows(features: CachedFeatures, names: list[str], rows: range, shuffle: bool, seed: int, batch_size: int):
    """Batches of `rows` read from the .npy files: in training, in blocks of BLOCK_ROWS rows taken in
    a random order each epoch, READ_CYCLE blocks interleaved, then a shuffle buffer of SHUFFLE_BYTES;
    in evaluation, in order."""
    import tensorflow as tf

    files = {name: features.inputs[name] for name in names}
    label_file = features.label_file

    def records(array: NpyArray, start, stop):
        return tf.data.FixedLengthRecordDataset(
            str(array.path), array.row_bytes, header_bytes=array.offset + start * array.row_bytes,
            footer_bytes=array.file_bytes - array.offset - stop * array.row_bytes, buffer_size=256 << 10,
        )

    def read(start, stop):
        return tf.data.Dataset.zip(({name: records(array, start, stop) for name, array in files.items()}, records(label_file, start, stop)))

    if shuffle:
        row_bytes = sum(array.row_bytes for array in files.values()) + label_file.row_bytes
        starts = tf.data.Dataset.from_tensor_slices(tf.constant(list(rows[::BLOCK_ROWS]), tf.int64))
        starts = starts.shuffle(max(1, len(starts)), seed=seed, reshuffle_each_iteration=True)
        dataset = starts.interleave(
            lambda start: read(start, tf.minimum(start + BLOCK_ROWS, rows.stop)),
            cycle_length=READ_CYCLE, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        )
        dataset = dataset.shuffle(max(batch_size, min(len(rows), SHUFFLE_BYTES // row_bytes)), seed=seed, reshuffle_each_iteration=True)
    else:
        dataset = read(tf.constant(rows.start, tf.int64), tf.constant(rows.stop, tf.int64))

    def decode(raw, labels):
        inputs = {
            name: tf.reshape(tf.io.decode_raw(raw[name], tf.as_dtype(array.dtype.newbyteorder("="))), [-1, *array.shape[1:]])
            for name, array in files.items()
        }
        return inputs, tf.reshape(tf.io.decode_raw(labels, tf.float32), [-1, label_file.shape[1]])

    return dataset.batch(batch_size).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
