"""The three models, built in the Keras functional API on whichever encoders the config names.

- poster model: the poster encoder's trunk and a sigmoid head;
- overview model: the overview encoder's trunk and a sigmoid head;
- fusion: both trunks (copied from the trained single models and frozen), their embeddings gated by
  which modalities a movie has, a joint head, plus a wide TF-IDF layer on the overview's words.

Every model takes a dict of named inputs (see `Featurizer.input_specs`) and ends in a layer named
`genres`. Architectures are rebuilt from the config, then weights-only files are loaded into them.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from genre_hf.config import GenreConfig
from genre_hf.modeling.encoders import TOKENS_INPUT, Encoder

MODALITIES_INPUT = "modalities"  # fusion only: N x 2 of 1/0, whether the poster / overview is given


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
        zeros = tf.zeros((tf.shape(sequence)[1], self.units), sequence.dtype)
        no_peephole = tf.zeros((self.units,), sequence.dtype)
        return tf.raw_ops.BlockLSTMV2(
            seq_len_max=tf.cast(tf.shape(sequence)[0], tf.int64), x=sequence, cs_prev=zeros, h_prev=zeros,
            w=tf.concat([kernel, recurrent], 0), wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=bias,
            cell_clip=0.0, use_peephole=False,
        )[6]

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
class ModalityGate(layers.Layer):
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
        counts = keras.ops.bincount(keras.ops.cast(tokens, "int32"), minlength=self.vocabulary_size)
        present = keras.ops.cast(keras.ops.minimum(counts, 1), self.idf.dtype)  # binary term frequency
        weighted = present * self.idf
        norm = keras.ops.sqrt(keras.ops.sum(weighted * weighted, axis=-1, keepdims=True))
        return self.scale * weighted / (norm + 1e-6)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "scale": self.scale}


@keras.saving.register_keras_serializable(package="genre_hf")
class NeighbourGenres(layers.Layer):
    """A neighbour vote: the multi-hot genres of the `k` training movies whose overviews are nearest
    (cosine on one slice of a frozen encoder's features), weighted by softmax(similarity / temperature).

    A pretrained sentence embedding puts overviews of a genre near each other, and the vote gives
    the head what 5k movies teach it worst, the rarer genres (measured: README, "Two model
    families"). The training movies' embeddings and genres are stored as weights (`set_index`); in
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


def model_input(encoder: Encoder) -> keras.KerasTensor:
    shape, dtype = encoder.input_spec()
    return keras.Input(shape, dtype=dtype, name=encoder.input_name)


def build_models(config: GenreConfig, encoders: dict[str, Encoder], vocabulary_size: int) -> tuple[keras.Model, dict[str, keras.Model]]:
    """One graph with every input, each encoder's trunk built once, and the three heads.

    Returns the whole (one forward pass gives all three answers, each trunk computed once; a model
    folder saves its weights) and the three models as views on it that share its layers
    ({"poster", "overview", "fusion"}), which training fits in turn.
    """
    inputs = {encoder.input_name: model_input(encoder) for encoder in encoders.values()}
    if config.wide_tfidf and TOKENS_INPUT not in inputs:
        inputs[TOKENS_INPUT] = keras.Input((config.sequence_length,), dtype="int32", name=TOKENS_INPUT)
    inputs[MODALITIES_INPUT] = keras.Input((2,), dtype="float32", name=MODALITIES_INPUT)
    embeddings = {modality: encoder.trunk(inputs[encoder.input_name]) for modality, encoder in encoders.items()}
    outputs = {modality: _single_head(config, encoder, embeddings[modality]) for modality, encoder in encoders.items()}
    sources = fusion_sources(config, encoders, embeddings, inputs)
    outputs["fusion"] = _apply_fusion_head(_fusion_head_layers(config, encoders, vocabulary_size), sources)
    whole = keras.Model(inputs, outputs, name="genre_models")
    views = {
        modality: keras.Model({encoder.input_name: inputs[encoder.input_name]}, outputs[modality], name=modality)
        for modality, encoder in encoders.items()
    }
    views["fusion"] = keras.Model(inputs, outputs["fusion"], name="fusion")
    return whole, views


def _single_head(config: GenreConfig, encoder: Encoder, embedding):
    """One modality's answer: dropout and a sigmoid per genre on its encoder's embedding."""
    name = encoder.modality
    x = layers.Dropout(encoder.head_dropout, name=f"{name}_head_dropout")(embedding)
    return layers.Dense(config.num_genres, activation="sigmoid", name=output_layer(name))(x)


def fusion_sources(config: GenreConfig, encoders: dict[str, Encoder], embeddings: dict, inputs: dict) -> dict:
    """What the fusion head reads, by name: each modality's embedding (or, for a frozen pretrained
    encoder when `fusion_reads_features`, the encoder's own features: a general-purpose embedding
    the head can use whole, where the trunk's is a bottleneck trained for that modality alone), which
    modalities a movie has, and the token ids for the wide path."""
    sources = {
        modality: inputs[encoder.input_name] if _reads_features(config, encoder) else embeddings[modality]
        for modality, encoder in encoders.items()
    }
    sources[MODALITIES_INPUT] = inputs[MODALITIES_INPUT]
    if config.wide_tfidf:
        sources[TOKENS_INPUT] = inputs[TOKENS_INPUT]
    return sources


def _reads_features(config: GenreConfig, encoder: Encoder) -> bool:
    return encoder.frozen and config.fusion_reads_features


def _fusion_head_layers(config: GenreConfig, encoders: dict[str, Encoder], vocabulary_size: int) -> dict[str, layers.Layer]:
    """The fusion model's own layers (everything after the trunks), by name."""
    head = [
        layers.Dropout(getattr(config, f"{encoder.prefix}_input_dropout"), name=f"fusion_{modality}_dropout")  # on a frozen preset's features
        for modality, encoder in encoders.items() if _reads_features(config, encoder)
    ]
    if config.neighbour_k and _reads_features(config, encoders["overview"]):
        layer_count = len(config.text_layers)
        dimension = config.text_embedding_dim // layer_count  # the deepest pooled layer: the sentence embedding
        head.append(NeighbourGenres(config.neighbour_index_size, (layer_count - 1) * dimension, dimension, config.num_genres,
                                    config.neighbour_k, config.neighbour_temperature, name="neighbour_genres"))
        head.append(layers.Concatenate(name="joint_text"))
    head += [
        ModalityGate(config.modality_dropout, seed=config.seed, name="modality_dropout"),
        layers.Concatenate(name="joint_embedding"),
        layers.Dropout(config.fusion_dropout, name="joint_dropout"),
        layers.Dense(config.fusion_hidden, activation="relu", name="fusion_hidden"),
        layers.Dropout(config.fusion_dropout, name="fusion_head_dropout"),
        layers.Dense(config.num_genres, name="deep_logits"),
        layers.Activation("sigmoid", name=output_layer("fusion")),
    ]
    if config.wide_tfidf:
        regularizer = keras.regularizers.L2(config.wide_l2 * config.wide_scale**2)
        head += [
            TfIdf(vocabulary_size, config.wide_scale, name="tfidf"),
            layers.Dense(config.num_genres, kernel_regularizer=regularizer, name="wide_logits"),
            layers.Multiply(name="wide_gate"),
            layers.Add(name="logits"),
        ]
    return {layer.name: layer for layer in head}


def _apply_fusion_head(head: dict[str, layers.Layer], sources: dict):
    """Both embeddings, gated by which modalities a movie has, into a joint head, plus a wide TF-IDF
    layer: on 5k movies the linear word evidence is what a deep text branch learns worst."""
    poster, text = (head[f"fusion_{m}_dropout"](sources[m]) if f"fusion_{m}_dropout" in head else sources[m] for m in ("poster", "overview"))
    if "neighbour_genres" in head:  # before the gate, which blanks it with the overview
        text = head["joint_text"]([text, head["neighbour_genres"](sources["overview"])])
    poster, text, keep_text = head["modality_dropout"]([poster, text, sources[MODALITIES_INPUT]])
    x = head["joint_embedding"]([poster, text])
    x = head["joint_dropout"](x)
    x = head["fusion_hidden"](x)
    x = head["fusion_head_dropout"](x)
    logits = head["deep_logits"](x)
    if "tfidf" in head:
        wide = head["wide_logits"](head["tfidf"](sources[TOKENS_INPUT]))
        wide = head["wide_gate"]([wide, keep_text])  # no overview, no word evidence
        logits = head["logits"]([logits, wide])
    return head[output_layer("fusion")](logits)


def fusion_head(whole: keras.Model, config: GenreConfig, encoders: dict[str, Encoder]) -> tuple[keras.Model, keras.Model | None]:
    """(head, sources): the fusion model's own layers (shared with `whole`) as a model on what they
    read, and a model from the whole's inputs to the embeddings the frozen trunks compute for them.

    Training fits the head on those embeddings computed once, instead of running the frozen trunks
    on every batch of every epoch (most of the fusion model's training time); the trunks then see
    no augmentation or dropout while the head learns, as at prediction time.
    """
    inputs = {tensor.name: tensor for tensor in whole.inputs}
    embeddings = {modality: whole.get_layer(f"{modality}_embedding").output for modality in encoders}
    sources = fusion_sources(config, encoders, embeddings, inputs)
    computed = [modality for modality, encoder in encoders.items() if not _reads_features(config, encoder)]
    source_model = keras.Model(
        {encoders[m].input_name: inputs[encoders[m].input_name] for m in computed},
        {f"{m}_embedding": sources[m] for m in computed},
        name="fusion_sources",
    ) if computed else None  # None: the head reads only inputs
    head_inputs = {
        name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=f"{name}_embedding" if name in computed else tensor.name)
        for name, tensor in sources.items()
    }
    names = {*_FUSION_HEAD_LAYERS, output_layer("fusion"), *(f"fusion_{m}_dropout" for m in encoders)}
    head = {layer.name: layer for layer in whole.layers if layer.name in names}
    outputs = _apply_fusion_head(head, head_inputs)
    return keras.Model({tensor.name: tensor for tensor in head_inputs.values()}, outputs, name="fusion_head"), source_model


_FUSION_HEAD_LAYERS = (
    "modality_dropout", "joint_embedding", "joint_dropout", "fusion_hidden", "fusion_head_dropout", "deep_logits",
    "tfidf", "wide_logits", "wide_gate", "logits", "neighbour_genres", "joint_text",
)


def output_layer(model: str) -> str:
    """The name of a model's last layer, whose output is its sigmoid per genre."""
    return f"{model}_genres"


def freeze_trunks(views: dict[str, keras.Model]) -> None:
    """Before the fusion model is fitted: the single models' layers (the trunks it shares) stay as trained."""
    for name in ("poster", "overview"):
        for layer in views[name].layers:
            layer.trainable = False


def input_names(model: keras.Model) -> list[str]:
    return [tensor.name for tensor in model.inputs]


def model_arrays(model: keras.Model, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> dict:
    """The arrays `model` reads; the fusion model also gets which modalities each movie has (all by default)."""
    names = input_names(model)
    arrays = {name: inputs[name] for name in names if name != MODALITIES_INPUT}
    if MODALITIES_INPUT in names:
        count = len(next(iter(arrays.values())))
        arrays[MODALITIES_INPUT] = np.ones((count, 2), np.float32) if present is None else present
    return arrays
