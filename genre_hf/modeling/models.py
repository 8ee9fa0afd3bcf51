"""The three models, built in the Keras functional API on whichever encoders the config names.

- poster model: the poster encoder's trunk and a sigmoid head;
- overview model: the overview encoder's trunk and a sigmoid head;
- fusion: both trunks (shared with the single models and frozen before it is fitted), their
  embeddings gated by which modalities a movie has, a joint head, plus (from scratch) a wide TF-IDF
  layer on the overview's words and (pretrained) a neighbour vote.

Every model takes a dict of named inputs (see `Featurizer.input_specs`) and ends in a layer named
`<model>_genres`. Architectures are rebuilt from the config, then weights-only files are loaded
into them. Weights files name layers by class and rank, so the order in which layers are made here
is part of the folder format: change it and older folders load into the wrong layers.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from genre_hf.config import MODEL_NAMES, GenreConfig
from genre_hf.limits import rows_per_pass
from genre_hf.modeling.encoders._base import TOKENS_INPUT, Encoder
from genre_hf.modeling.layers import ModalityDropout, NeighbourGenres, TfIdf
from genre_hf.modeling.traced import traced

MODALITIES_INPUT = "modalities"  # fusion only: N x 2 of 1/0, whether the poster / overview is given


def build_models(config: GenreConfig, encoders: dict[str, Encoder], vocabulary_size: int) -> GenreNetwork:
    """One graph with every input, each encoder's trunk built once, and the three heads.

    The network's `whole` model gives all three answers in one forward pass (each trunk computed
    once; a model folder saves its weights) and its `models` are the three models as views on it
    that share its layers ({"poster", "overview", "fusion"}), which training fits in turn.
    """
    inputs = {encoder.input_name: _model_input(encoder) for encoder in encoders.values()}
    if config.wide_tfidf and TOKENS_INPUT not in inputs:
        inputs[TOKENS_INPUT] = keras.Input((config.sequence_length,), dtype="int32", name=TOKENS_INPUT)
    inputs[MODALITIES_INPUT] = keras.Input((2,), dtype="float32", name=MODALITIES_INPUT)
    embeddings = {modality: encoder.trunk(inputs[encoder.input_name]) for modality, encoder in encoders.items()}
    outputs = {modality: _single_head(config, encoder, embeddings[modality]) for modality, encoder in encoders.items()}
    head_inputs = fusion_head_inputs(config, encoders, embeddings, inputs)
    head = _fusion_head_layers(config, encoders, vocabulary_size)
    outputs["fusion"] = apply_fusion_head(head, head_inputs)
    whole = keras.Model(inputs, outputs, name="genre_models")
    views = {
        modality: keras.Model({encoder.input_name: inputs[encoder.input_name]}, outputs[modality], name=modality)
        for modality, encoder in encoders.items()
    }
    views["fusion"] = keras.Model(inputs, outputs["fusion"], name="fusion")
    return GenreNetwork(config, encoders, whole, views, head, embeddings)


def _model_input(encoder: Encoder) -> keras.KerasTensor:
    shape, dtype = encoder.input_spec()
    return keras.Input(shape, dtype=dtype, name=encoder.input_name)


def _single_head(config: GenreConfig, encoder: Encoder, embedding):
    """One modality's answer: dropout and a sigmoid per genre on its encoder's embedding."""
    name = encoder.modality
    x = layers.Dropout(encoder.head_dropout, name=f"{name}_head_dropout")(embedding)
    return layers.Dense(config.num_genres, activation="sigmoid", name=output_layer(name))(x)


def fusion_head_inputs(config: GenreConfig, encoders: dict[str, Encoder], embeddings: dict, inputs: dict) -> dict:
    """What the fusion head reads, by name: each modality's embedding (or, for a frozen pretrained
    encoder when `fusion_reads_features`, the encoder's own features: a general-purpose embedding
    the head can use whole, where the trunk's is a bottleneck trained for that modality alone), which
    modalities a movie has, and the token ids for the wide path."""
    head_inputs = {
        modality: inputs[encoder.input_name] if reads_features(config, encoder) else embeddings[modality]
        for modality, encoder in encoders.items()
    }
    head_inputs[MODALITIES_INPUT] = inputs[MODALITIES_INPUT]
    if config.wide_tfidf:
        head_inputs[TOKENS_INPUT] = inputs[TOKENS_INPUT]
    return head_inputs


def reads_features(config: GenreConfig, encoder: Encoder) -> bool:
    """Whether the fusion head reads the encoder's features themselves rather than its trunk's embedding."""
    return encoder.frozen and config.fusion_reads_features


def _fusion_head_layers(config: GenreConfig, encoders: dict[str, Encoder], vocabulary_size: int) -> dict[str, layers.Layer]:
    """The fusion model's own layers (everything after the trunks), by name, made in a fixed order."""
    head = [
        layers.Dropout(getattr(config, f"{encoder.prefix}_input_dropout"), name=f"fusion_{modality}_dropout")  # on a frozen preset's features
        for modality, encoder in encoders.items() if reads_features(config, encoder)
    ]
    if config.neighbour_k and reads_features(config, encoders["overview"]):
        layer_count = len(config.text_layers)
        dimension = config.text_embedding_dim // layer_count  # the deepest pooled layer: the sentence embedding
        head.append(NeighbourGenres(config.neighbour_index_size, (layer_count - 1) * dimension, dimension, config.num_genres,
                                    config.neighbour_k, config.neighbour_temperature, name="neighbour_genres"))
        head.append(layers.Concatenate(name="joint_text"))
    head += [
        ModalityDropout(config.modality_dropout, seed=config.seed, name="modality_dropout"),
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


def apply_fusion_head(head: dict[str, layers.Layer], head_inputs: dict):
    """Both embeddings, gated by which modalities a movie has, into a joint head, plus a wide TF-IDF
    layer: on 5k movies the linear word evidence is what a deep text branch learns worst."""
    poster, text = (head[f"fusion_{m}_dropout"](head_inputs[m]) if f"fusion_{m}_dropout" in head else head_inputs[m]
                    for m in ("poster", "overview"))
    if "neighbour_genres" in head:  # before the gate, which blanks it with the overview
        text = head["joint_text"]([text, head["neighbour_genres"](head_inputs["overview"])])
    poster, text, keep_text = head["modality_dropout"]([poster, text, head_inputs[MODALITIES_INPUT]])
    x = head["joint_embedding"]([poster, text])
    x = head["joint_dropout"](x)
    x = head["fusion_hidden"](x)
    x = head["fusion_head_dropout"](x)
    logits = head["deep_logits"](x)
    if "tfidf" in head:
        wide = head["wide_logits"](head["tfidf"](head_inputs[TOKENS_INPUT]))
        wide = head["wide_gate"]([wide, keep_text])  # no overview, no word evidence
        logits = head["logits"]([logits, wide])
    return head[output_layer("fusion")](logits)


def output_layer(model: str) -> str:
    """The name of a model's last layer, whose output is its sigmoid per genre."""
    return f"{model}_genres"


class GenreNetwork:
    """The built models and what is done with them as a whole: statistics learned from the training
    split, the fusion head as a model of its own, and the traced forward pass that answers."""

    def __init__(self, config: GenreConfig, encoders: dict[str, Encoder], whole: keras.Model, models: dict[str, keras.Model],
                 head: dict[str, layers.Layer], embeddings: dict):
        self.config, self.encoders, self.whole, self.models = config, encoders, whole, models
        self._head, self._embeddings = head, embeddings
        self._forward = None  # the whole model's traced forward pass, traced on the first call

    @property
    def input_names(self) -> list[str]:
        return input_names(self.whole)

    def signature(self, model: keras.Model | None = None) -> dict:
        """{input name: tf.TensorSpec} of `model` (default: the whole), any batch size: what a traced
        function over it takes, so it is traced once for every batch size."""
        import tensorflow as tf

        return {tensor.name: tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype) for tensor in (model or self.whole).inputs}

    def set_statistics(self, train_inputs: dict, train_labels) -> None:
        """What the fusion head learns from the training split rather than by gradient: the TF-IDF
        layer's IDF and the neighbour vote's index (its movies' embeddings and genres)."""
        if "tfidf" in self._head:
            self._head["tfidf"].set_idf(train_inputs[TOKENS_INPUT])
        if "neighbour_genres" in self._head:
            self._head["neighbour_genres"].set_index(train_inputs[self.encoders["overview"].input_name], train_labels)

    def freeze_trunks(self) -> None:
        """Before the fusion model is fitted: the single models' layers (the trunks it shares) stay as trained."""
        for name in ("poster", "overview"):
            for layer in self.models[name].layers:
                layer.trainable = False

    def fusion_head(self) -> tuple[keras.Model, keras.Model | None]:
        """(head, embedder): the fusion model's own layers (shared with `whole`) as a model on what
        they read, and a model from the whole's inputs to the embeddings the frozen trunks compute
        for them (None when the head reads only inputs).

        Training fits the head on those embeddings computed once, instead of running the frozen trunks
        on every batch of every epoch (most of the fusion model's training time); the trunks then see
        no augmentation or dropout while the head learns, as at prediction time.
        """
        config, encoders = self.config, self.encoders
        inputs = {tensor.name: tensor for tensor in self.whole.inputs}
        head_inputs = fusion_head_inputs(config, encoders, self._embeddings, inputs)
        computed = [modality for modality, encoder in encoders.items() if not reads_features(config, encoder)]
        embedder = keras.Model(
            {encoders[m].input_name: inputs[encoders[m].input_name] for m in computed},
            {f"{m}_embedding": head_inputs[m] for m in computed},
            name="fusion_embedder",
        ) if computed else None
        fresh = {
            name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=f"{name}_embedding" if name in computed else tensor.name)
            for name, tensor in head_inputs.items()
        }
        outputs = apply_fusion_head(self._head, fresh)
        return keras.Model({tensor.name: tensor for tensor in fresh.values()}, outputs, name="fusion_head"), embedder

    def raw_outputs(self, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Uncalibrated sigmoid outputs of the three models, one traced forward pass per chunk of
        movies (each encoder's trunk runs once for all three).

        `inputs` holds every named model input (a missing modality's blanked: see
        `Featurizer.blank_inputs`); `present` (N x 2 of 1/0) says which of poster and overview each
        movie has, for the fusion model; by default both. The pass is traced on the first call and
        every call runs that graph: an eager and a traced pass differ in the 8th digit (oneDNN fuses
        ops differently in a graph), so the same input gets the same answer whichever call it is.
        """
        if self._forward is None:
            whole = self.whole
            self._forward = traced([self.signature()])(lambda batch: whole(batch, training=False))
        arrays = model_arrays(self.whole, inputs, present)
        size, rows = len(next(iter(arrays.values()))), rows_per_pass(self.config)  # bounds a pass's memory however large the batch
        chunks = [
            self._forward({key: value[start : start + rows] for key, value in arrays.items()})
            for start in range(0, size, rows)
        ]
        if not chunks:
            return {name: np.zeros((0, self.config.num_genres), np.float32) for name in MODEL_NAMES}
        return {name: np.concatenate([np.asarray(chunk[name]) for chunk in chunks]) for name in MODEL_NAMES}


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
