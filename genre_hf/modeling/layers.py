"""The custom Keras layers the models are built from; no model is built here.

- `FusedBiLSTM`: a bidirectional LSTM, each direction one fused TensorFlow op;
- `MaskedMean`: the mean over a sequence's unmasked steps;
- `ModalityDropout`: zero a missing modality, and in training blank one for a fraction of movies;
- `TfIdf`: token ids -> a TF-IDF vector, its IDF learned from the training split;
- `NeighbourGenres`: the genres of the nearest training overviews, its index learned from the training split.

- `MultiHot`: token ids -> which vocabulary words they hold (the LSTM's bag of words).

The last two learn their statistics from the training split (`set_idf`, `set_index`), through
`GenreNetwork.set_statistics`. Inside `portable()` (what a conversion for LiteRT traces) the layers
whose TensorFlow ops LiteRT lacks (BlockLSTMV2, DenseBincount) compute the same numbers with builtin
ops: the LSTM unrolled step by step, the counts scattered. Weights files name a layer by its class (snake case) and rank, so a
class is never renamed once models have been saved with it (ModalityDropout holds no weights).
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import numpy as np
from keras import layers

_PORTABLE = contextvars.ContextVar("portable", default=False)


@contextlib.contextmanager
def portable():
    """While tracing for LiteRT: the layers use only ops it has (see the module's docstring)."""
    token = _PORTABLE.set(True)
    try:
        yield
    finally:
        _PORTABLE.reset(token)


def token_counts(tokens, size: int, binary: bool):
    """N x size: how often (or, `binary`, whether) each id occurs in each row of `tokens` (N x L int)."""
    import tensorflow as tf

    tokens = tf.cast(tokens, tf.int32)
    if not _PORTABLE.get():
        return tf.math.bincount(tokens, minlength=size, maxlength=size, binary_output=binary, axis=-1, dtype=tf.float32)
    rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None], tf.shape(tokens))
    indices = tf.stack([rows, tokens], axis=-1)
    counts = tf.scatter_nd(indices, tf.ones_like(tokens, tf.float32), tf.stack([tf.shape(tokens)[0], size]))
    return tf.minimum(counts, 1.0) if binary else counts


@keras.saving.register_keras_serializable(package="genre_hf")
class FusedBiLSTM(layers.Layer):
    """A bidirectional LSTM over a masked (end-padded) sequence, each direction one fused TensorFlow op.

    The same maths and weights as `Bidirectional(LSTM(units, return_sequences=True))` (Keras gate
    order, unit forget bias), but `BlockLSTMV2` runs the whole sequence in one kernel where Keras
    loops over time steps op by op: a one-off prediction takes milliseconds instead of most of a
    second, and training is several times faster. The backward direction reverses each sequence by
    its own length, so padding never enters it. TensorFlow backend only.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        size, units = input_shape[-1], self.units

        def forget_bias(shape, dtype=None):  # Keras' unit_forget_bias: the forget gate starts open
            return keras.ops.concatenate([keras.ops.zeros(units), keras.ops.ones(units), keras.ops.zeros(2 * units)])

        self.directions = {
            direction: (
                self.add_weight(shape=(size, 4 * units), initializer="glorot_uniform", name=f"{direction}_kernel"),
                self.add_weight(shape=(units, 4 * units), initializer="orthogonal", name=f"{direction}_recurrent_kernel"),
                self.add_weight(shape=(4 * units,), initializer=forget_bias, name=f"{direction}_bias"),
            )
            for direction in ("forward", "backward")
        }

    def _direction(self, sequence, weights):
        import tensorflow as tf

        kernel, recurrent, bias = weights
        if _PORTABLE.get():
            return self._unrolled(sequence, kernel, recurrent, bias)
        zeros = tf.zeros((tf.shape(sequence)[1], self.units), sequence.dtype)
        no_peephole = tf.zeros((self.units,), sequence.dtype)
        return tf.raw_ops.BlockLSTMV2(
            seq_len_max=tf.cast(tf.shape(sequence)[0], tf.int64), x=sequence, cs_prev=zeros, h_prev=zeros,
            w=tf.concat([kernel, recurrent], 0), wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=bias,
            cell_clip=0.0, use_peephole=False,
        )[6]

    def _unrolled(self, sequence, kernel, recurrent, bias):
        """BlockLSTMV2's maths (gates i, f, c, o) one time step at a time: the sequence length is fixed
        by the model's input, so the loop unrolls into builtin ops."""
        import tensorflow as tf

        steps = sequence.shape[0]
        inputs = tf.einsum("tbi,ig->tbg", sequence, kernel) + bias
        h = c = tf.zeros((tf.shape(sequence)[1], self.units), sequence.dtype)
        outputs = []
        for step in range(steps):
            i, f, g, o = tf.split(inputs[step] + tf.matmul(h, recurrent), 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            outputs.append(h)
        return tf.stack(outputs)

    def call(self, inputs, mask=None):
        import tensorflow as tf

        sequence = tf.transpose(inputs, [1, 0, 2])  # time major
        if mask is None:
            lengths = tf.fill([tf.shape(inputs)[0]], tf.shape(inputs)[1])
        else:
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        forward = self._direction(sequence, self.directions["forward"])
        reverse = lambda x: tf.reverse_sequence(x, lengths, seq_axis=0, batch_axis=1)  # noqa: E731
        backward = reverse(self._direction(reverse(sequence), self.directions["backward"]))
        return tf.transpose(tf.concat([forward, backward], -1), [1, 0, 2])

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="genre_hf")
class MaskedMean(layers.Layer):
    """The mean over the unmasked time steps; a sequence with none (an overview of no word) gives zeros,
    where Keras' GlobalAveragePooling1D would give NaN."""

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.mean(inputs, axis=1)
        weights = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), -1)
        return keras.ops.sum(inputs * weights, axis=1) / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="genre_hf")
class ModalityDropout(layers.Layer):
    """Zero the embedding (and wide logits) of a modality a movie lacks; in training, also blank one
    whole modality for a fraction of movies.

    The random blanks keep the head from leaning on the stronger text branch alone, and make a
    missing poster or overview at prediction time something the head has seen.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        poster, text, present = inputs
        present = keras.ops.cast(present, poster.dtype)
        if training and self.rate > 0:
            draw = keras.random.uniform((keras.ops.shape(poster)[0], 1), seed=self.seed_generator)
            keep_poster = keras.ops.cast(draw >= self.rate, poster.dtype)
            keep_text = keras.ops.cast((draw < self.rate) | (draw >= 2 * self.rate), poster.dtype)
            present = present * keras.ops.concatenate([keep_poster, keep_text], axis=-1)
        keep_poster, keep_text = present[:, :1], present[:, 1:]
        # `where`, not a product: whatever a blanked branch computed must not leak
        # through (NaN * 0 is NaN).
        poster = keras.ops.where(keep_poster > 0, poster, keras.ops.zeros_like(poster))
        text = keras.ops.where(keep_text > 0, text, keras.ops.zeros_like(text))
        return poster, text, keep_text

    def compute_output_shape(self, input_shape):
        poster, text, _ = input_shape
        return poster, text, (poster[0], 1)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="genre_hf")
class TfIdf(layers.Layer):
    """Token ids -> L2-normalised TF-IDF vector (binary term frequency), times a fixed scale.

    The IDF weights are set from the training split and saved with the weights. The scale makes
    Adam move this wide linear layer as fast as a logistic regression solver would, so it
    converges in the few epochs the deep head needs.
    """

    def __init__(self, vocabulary_size: int, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.scale = vocabulary_size, scale
        self.idf = self.add_weight(shape=(vocabulary_size,), initializer="ones", trainable=False, name="idf")

    def set_idf(self, train_tokens) -> None:
        document_frequency = np.zeros(self.vocabulary_size)
        for row in train_tokens:
            document_frequency[np.unique(row)] += 1
        idf = np.log((1 + len(train_tokens)) / (1 + document_frequency)) + 1
        idf[:2] = 0  # padding and out-of-vocabulary carry no evidence
        self.idf.assign(idf.astype("float32"))

    def call(self, tokens):
        present = token_counts(tokens, self.vocabulary_size, binary=True)  # binary term frequency
        weighted = present * self.idf
        norm = keras.ops.sqrt(keras.ops.sum(weighted * weighted, axis=-1, keepdims=True))
        return self.scale * weighted / (norm + 1e-6)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "scale": self.scale}


@keras.saving.register_keras_serializable(package="genre_hf")
class MultiHot(layers.Layer):
    """Token ids -> 1 for each vocabulary word they hold (Keras' CategoryEncoding "multi_hot", which
    LiteRT cannot run)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, tokens):
        return token_counts(tokens, self.size, binary=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="genre_hf")
class NeighbourGenres(layers.Layer):
    """A neighbour vote: the multi-hot genres of the `k` training movies whose overviews are nearest
    (cosine on one slice of a frozen encoder's features), weighted by softmax(similarity / temperature).

    A pretrained sentence embedding puts overviews of a genre near each other, and the vote gives
    the head what 5k movies teach it worst, the rarer genres (measured:
    docs/families.md). The training movies' embeddings and genres are stored as weights (`set_index`); in
    training each movie's own row, its nearest, is left out, or the vote would be its own label.
    """

    def __init__(self, size: int, start: int, dimension: int, genres: int, k: int, temperature: float, **kwargs):
        super().__init__(**kwargs)
        self.size, self.start, self.dimension, self.genres, self.k, self.temperature = size, start, dimension, genres, k, temperature
        self.keys = self.add_weight(shape=(size, dimension), initializer="zeros", dtype="float16", trainable=False, name="keys")
        self.votes = self.add_weight(shape=(size, genres), initializer="zeros", dtype="float16", trainable=False, name="votes")

    def set_index(self, train_features, train_labels) -> None:
        """The training split's embeddings (any N x D array-like, read in chunks) and genres."""
        keys = np.concatenate([self._unit(np.asarray(train_features[i : i + 4096], np.float32)) for i in range(0, len(train_labels), 4096)])
        self.keys.assign(keys.astype("float16"))
        self.votes.assign(np.asarray(train_labels, np.float16))

    def _unit(self, features):
        part = features[:, self.start : self.start + self.dimension]
        norm = np.sqrt((part * part).sum(axis=1, keepdims=True))
        return part / np.maximum(norm, 1e-6)

    def call(self, features, training=False):
        import tensorflow as tf

        query = features[:, self.start : self.start + self.dimension]
        query = query / tf.maximum(tf.norm(query, axis=1, keepdims=True), 1e-6)
        similarity = tf.matmul(query, tf.cast(self.keys, query.dtype), transpose_b=True)
        nearest, index = tf.math.top_k(similarity, min(self.k + int(bool(training)), self.size))
        if training:  # the movie itself is its own nearest
            nearest, index = nearest[:, 1:], index[:, 1:]
        weights = tf.nn.softmax(nearest / self.temperature, axis=1)
        return tf.einsum("bk,bkg->bg", weights, tf.gather(tf.cast(self.votes, query.dtype), index))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.genres)

    def get_config(self):
        names = ("size", "start", "dimension", "genres", "k", "temperature")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
