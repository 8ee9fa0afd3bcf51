"""The three models, built in the Keras functional API on whichever encoders the config names.

- poster model: the poster encoder's trunk and a sigmoid head;
- overview model: the overview encoder's trunk and a sigmoid head;
- fusion: both trunks (shared with the single models and frozen before it is fitted) into the
  `FusionHead` (fusion.py), then a sigmoid.

Every model takes a dict of named inputs (see `Featurizer.input_specs`) and ends in a layer named
`<model>_genres`. Architectures are rebuilt from the config, then weights-only files are loaded
into them. Weights files name layers by their names and attributes, so what is made here and how it
is named is part of the folder format (`config.FORMAT_VERSION`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from genre_hf.modeling import MODEL_NAMES
from genre_hf.modeling.encoders._base import TOKENS_INPUT, Encoder
from genre_hf.modeling.fusion import MODALITIES_INPUT, FusionSettings, reads_features, rows_per_pass
from genre_hf.modeling.fusion_head import FusionHead
from genre_hf.modeling.traced import traced


def build_models(genres: int, encoders: dict[str, Encoder], fusion: FusionSettings, vocabulary_size: int, seed: int = 0) -> GenreNetwork:
    """One graph with every input, each encoder's trunk built once, and the three heads.

    The network's `whole` model gives all three answers in one forward pass (each trunk computed
    once; a model folder saves its weights) and its `models` are the three models as views on it
    that share its layers ({"poster", "overview", "fusion"}), which training fits in turn.
    """
    inputs = {encoder.input_name: _model_input(encoder) for encoder in encoders.values()}
    if fusion.wide_tfidf and TOKENS_INPUT not in inputs:
        inputs[TOKENS_INPUT] = keras.Input((encoders["overview"].tokenizer.sequence_length,), dtype="int32", name=TOKENS_INPUT)
    inputs[MODALITIES_INPUT] = keras.Input((2,), dtype="float32", name=MODALITIES_INPUT)
    embeddings = {modality: encoder.trunk(inputs[encoder.input_name]) for modality, encoder in encoders.items()}
    outputs = {modality: _single_head(genres, encoder, embeddings[modality]) for modality, encoder in encoders.items()}
    # Made after the trunks and the single heads, as before it was a layer of its own: a layer made with no
    # seed draws its seed from the global stream when it is made, so the order keeps every seed's weights.
    head = FusionHead(fusion, encoders, genres, vocabulary_size, seed)
    sigmoid = layers.Activation("sigmoid", name=output_layer("fusion"))
    outputs["fusion"] = sigmoid(head(head_inputs(head, encoders, embeddings, inputs)))
    whole = keras.Model(inputs, outputs, name="genre_models")
    views = {
        modality: keras.Model({encoder.input_name: inputs[encoder.input_name]}, outputs[modality], name=modality)
        for modality, encoder in encoders.items()
    }
    views["fusion"] = keras.Model(inputs, outputs["fusion"], name="fusion")
    return GenreNetwork(encoders, whole, views, head, sigmoid, embeddings)


def _model_input(encoder: Encoder) -> keras.KerasTensor:
    shape, dtype = encoder.input_spec()
    return keras.Input(shape, dtype=dtype, name=encoder.input_name)


def _single_head(genres: int, encoder: Encoder, embedding):
    """One modality's answer: dropout and a sigmoid per genre on its encoder's embedding."""
    name = encoder.modality
    x = layers.Dropout(encoder.head_dropout, name=f"{name}_head_dropout")(embedding)
    return layers.Dense(genres, activation="sigmoid", name=output_layer(name))(x)


def head_inputs(head: FusionHead, encoders: dict[str, Encoder], embeddings: dict, inputs: dict) -> dict:
    """What the fusion head reads, by name: each modality's embedding (or a frozen encoder's own
    features: see `fusion.reads_features`), which modalities a movie has, the token ids for the wide path."""
    given = {modality: inputs[encoder.input_name] if reads_features(head.settings, encoder) else embeddings[modality]
             for modality, encoder in encoders.items()}
    return {**given, **{name: inputs[name] for name in head.input_names}}


def output_layer(model: str) -> str:
    """The name of a model's last layer, whose output is its sigmoid per genre."""
    return f"{model}_genres"


class GenreNetwork:
    """The built models and what is done with them as a whole: statistics learned from the training
    split, the fusion head as a model of its own, and the traced forward pass that answers."""

    def __init__(self, encoders: dict[str, Encoder], whole: keras.Model, models: dict[str, keras.Model], head: FusionHead,
                 sigmoid: layers.Layer, embeddings: dict):
        self.encoders, self.whole, self.models, self.head = encoders, whole, models, head
        self._sigmoid, self._embeddings = sigmoid, embeddings
        self._forward = None  # the whole model's traced forward pass, traced on the first call
        tokens = next(encoder.tokenizer for encoder in encoders.values()).settings
        self.rows_per_pass = rows_per_pass(encoders, head.settings, tokens)

    @property
    def input_names(self) -> list[str]:
        return input_names(self.whole)

    def signature(self, model: keras.Model | None = None) -> dict:
        """{input name: tf.TensorSpec} of `model` (default: the whole), any batch size: what a traced
        function over it takes, so it is traced once for every batch size."""
        import tensorflow as tf

        return {tensor.name: tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype) for tensor in (model or self.whole).inputs}

    def set_statistics(self, train_inputs: dict, train_labels) -> None:
        """What the fusion head learns from the training split rather than by gradient (`FusionHead.set_statistics`)."""
        self.head.set_statistics(train_inputs, train_labels, self.encoders["overview"].input_name)

    def freeze_trunks(self) -> None:
        """Before the fusion model is fitted: the single models' layers (the trunks it shares) stay as trained."""
        for name in ("poster", "overview"):
            for layer in self.models[name].layers:
                layer.trainable = False

    def fusion_head(self) -> tuple[keras.Model, keras.Model | None]:
        """(head, embedder): the fusion model's own layers (the same `FusionHead` as in `whole`) as a
        model on what they read, and a model from the whole's inputs to the embeddings the frozen
        trunks compute for them (None when the head reads only inputs).

        Training fits the head on those embeddings computed once, instead of running the frozen trunks
        on every batch of every epoch (most of the fusion model's training time); the trunks then see
        no augmentation or dropout while the head learns, as at prediction time.
        """
        encoders = self.encoders
        inputs = {tensor.name: tensor for tensor in self.whole.inputs}
        given = head_inputs(self.head, encoders, self._embeddings, inputs)
        computed = [modality for modality, encoder in encoders.items() if not reads_features(self.head.settings, encoder)]
        embedder = keras.Model(
            {encoders[m].input_name: inputs[encoders[m].input_name] for m in computed},
            {f"{m}_embedding": given[m] for m in computed},
            name="fusion_embedder",
        ) if computed else None
        fresh = {
            name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=f"{name}_embedding" if name in computed else tensor.name)
            for name, tensor in given.items()
        }
        outputs = self._sigmoid(self.head(fresh))
        return keras.Model({tensor.name: tensor for tensor in fresh.values()}, outputs, name="fusion_head"), embedder

    def lite_pass(self):
        """The whole forward pass as a traced function of the named inputs, returning the three models'
        outputs in MODEL_NAMES order: what `litert.convert` makes a model folder's model.tflite of."""
        import tensorflow as tf

        from genre_hf.modeling.layers import portable

        whole, names = self.whole, input_names(self.whole)
        specs = [tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=tensor.name) for tensor in whole.inputs]

        @traced(specs)
        def forward(*arrays):
            with portable():
                outputs = whole(dict(zip(names, arrays)), training=False)
            return tuple(outputs[name] for name in MODEL_NAMES)

        return forward

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
        size, rows = len(next(iter(arrays.values()))), self.rows_per_pass  # bounds a pass's memory however large the batch
        chunks = [
            self._forward({key: value[start : start + rows] for key, value in arrays.items()})
            for start in range(0, size, rows)
        ]
        if not chunks:
            genres = self.whole.output["fusion"].shape[-1]
            return {name: np.zeros((0, genres), np.float32) for name in MODEL_NAMES}
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
