"""tf.data pipelines over features, in memory or in the on-disk cache, for `fit` and for evaluation."""

from __future__ import annotations

import math

from genre_hf.features.cache import CachedFeatures
from genre_hf.features.featurizer import MovieFeatures
from genre_hf.features.npy import NpyArray

BLOCK_ROWS = 128  # training reads the cache in blocks of rows, the blocks in a new random order each epoch...
READ_CYCLE = 16  # ...interleaving this many blocks at a time...
SHUFFLE_BYTES = 32 << 20  # ...and shuffling rows in a buffer of this size


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

    from genre_hf.modeling.fusion import MODALITIES_INPUT

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
