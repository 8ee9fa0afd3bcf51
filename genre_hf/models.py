"""The three models, one builder each, in the Keras functional API.

Every layer that a later step looks up has a name: `poster_embedding` and `overview_embedding` are
the penultimate layers whose outputs the fusion model joins, and `genres` is every model's output.
Architectures are rebuilt from the config, then weights-only files are loaded into them.
"""

from __future__ import annotations

import keras
from keras import layers

from genre_hf.config import GenreConfig

POSTER_INPUT = "poster"
TOKENS_INPUT = "overview_tokens"


@keras.saving.register_keras_serializable(package="genre_hf")
class ModalityDropout(layers.Layer):
    """In training, blank one whole modality for a fraction of movies.

    Without it the fusion head leans on the stronger text branch and ignores the poster.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        poster, text = inputs
        if not training or self.rate <= 0:
            return poster, text
        draw = keras.random.uniform((keras.ops.shape(poster)[0], 1), seed=self.seed_generator)
        keep_poster = keras.ops.cast(draw >= self.rate, poster.dtype)
        keep_text = keras.ops.cast((draw < self.rate) | (draw >= 2 * self.rate), text.dtype)
        return poster * keep_poster, text * keep_text

    def compute_output_shape(self, input_shape):
        return input_shape

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
        import numpy as np

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


def poster_input(config: GenreConfig) -> keras.KerasTensor:
    return keras.Input((config.image_size, config.image_size, 3), dtype="uint8", name=POSTER_INPUT)


def tokens_input(config: GenreConfig) -> keras.KerasTensor:
    return keras.Input((config.sequence_length,), dtype="int32", name=TOKENS_INPUT)


def poster_trunk(config: GenreConfig, poster: keras.KerasTensor) -> keras.KerasTensor:
    """uint8 poster -> poster_embedding: conv blocks, global pooling, a dense layer."""
    x = layers.Rescaling(1 / 255.0, name="rescale")(poster)
    if config.augment_posters:  # active in training only
        x = layers.RandomFlip("horizontal", seed=config.seed, name="flip")(x)
        x = layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=config.seed, name="shift")(x)
    for block, filters in enumerate(config.cnn_filters, start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = layers.Activation("relu", name=f"block{block}_relu")(x)
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="poster_pool")(x)
    x = layers.Dropout(config.cnn_dropout, name="poster_pool_dropout")(x)
    return layers.Dense(config.cnn_embedding, activation="relu", name="poster_embedding")(x)


def overview_trunk(config: GenreConfig, tokens: keras.KerasTensor, vocabulary_size: int) -> keras.KerasTensor:
    """Token ids -> overview_embedding: a masked BiLSTM pooled over time, plus a bag of words.

    The bag-of-words shortcut gives the linear word evidence that a TF-IDF model thrives on, which
    an LSTM trained from scratch on 5k overviews struggles to learn alone.
    """
    x = layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True, name="word_embedding")(tokens)
    x = layers.SpatialDropout1D(config.spatial_dropout, name="word_dropout")(x)
    x = layers.Bidirectional(layers.LSTM(config.lstm_units, return_sequences=True), name="bilstm")(x)
    features = [layers.GlobalAveragePooling1D(name="lstm_mean")(x)]
    if config.bag_of_words:
        bag = layers.CategoryEncoding(vocabulary_size, output_mode="multi_hot", name="bag_of_words")(tokens)
        features.append(
            layers.Dense(
                config.text_embedding,
                kernel_regularizer=keras.regularizers.L2(config.bag_of_words_l2),
                name="bag_projection",
            )(bag)
        )
    x = layers.Concatenate(name="text_features")(features)
    x = layers.Dropout(config.text_dropout, name="text_dropout")(x)
    return layers.Dense(config.text_embedding, activation="relu", name="overview_embedding")(x)


def genre_head(config: GenreConfig, embedding: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    x = layers.Dropout(dropout, name="head_dropout")(embedding)
    return layers.Dense(config.num_genres, activation="sigmoid", name="genres")(x)


def build_poster_cnn(config: GenreConfig) -> keras.Model:
    poster = poster_input(config)
    outputs = genre_head(config, poster_trunk(config, poster), config.cnn_dropout)
    return keras.Model(poster, outputs, name="poster_cnn")


def build_overview_lstm(config: GenreConfig, vocabulary_size: int) -> keras.Model:
    tokens = tokens_input(config)
    outputs = genre_head(config, overview_trunk(config, tokens, vocabulary_size), config.text_dropout)
    return keras.Model(tokens, outputs, name="overview_lstm")


def build_fusion(config: GenreConfig, vocabulary_size: int) -> keras.Model:
    """Both trunks, their embeddings concatenated into a joint head, plus a wide TF-IDF layer.

    Training starts the trunks from the trained single models (`init_fusion_trunks`). The wide
    layer adds a logistic regression on the overview's words to the head's logits: on 5k movies
    that linear evidence is what the deep text branch learns worst.
    """
    poster, tokens = poster_input(config), tokens_input(config)
    poster_embedding = poster_trunk(config, poster)
    text_embedding = overview_trunk(config, tokens, vocabulary_size)
    poster_embedding, text_embedding = ModalityDropout(
        config.modality_dropout, seed=config.seed, name="modality_dropout"
    )([poster_embedding, text_embedding])
    x = layers.Concatenate(name="joint_embedding")([poster_embedding, text_embedding])
    x = layers.Dropout(config.fusion_dropout, name="joint_dropout")(x)
    x = layers.Dense(config.fusion_hidden, activation="relu", name="fusion_hidden")(x)
    x = layers.Dropout(config.fusion_dropout, name="head_dropout")(x)
    logits = layers.Dense(config.num_genres, name="deep_logits")(x)
    if config.wide_tfidf:
        tfidf = TfIdf(vocabulary_size, config.wide_scale, name="tfidf")(tokens)
        wide = layers.Dense(
            config.num_genres,
            kernel_regularizer=keras.regularizers.L2(config.wide_l2 * config.wide_scale**2),
            name="wide_logits",
        )(tfidf)
        logits = layers.Add(name="logits")([logits, wide])
    outputs = layers.Activation("sigmoid", name="genres")(logits)
    return keras.Model({POSTER_INPUT: poster, TOKENS_INPUT: tokens}, outputs, name="fusion")


def init_fusion_trunks(fusion: keras.Model, cnn: keras.Model, lstm: keras.Model, trainable: bool) -> None:
    """Copy the trained single-modality trunks into the fusion model (same layer names)."""
    for layer in fusion.layers:  # the head and the wide layer are fusion's own
        if not layer.weights or not (_has_layer(cnn, layer.name) or _has_layer(lstm, layer.name)):
            continue
        source = cnn if _has_layer(cnn, layer.name) else lstm
        layer.set_weights(source.get_layer(layer.name).get_weights())
        layer.trainable = trainable


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def model_inputs(name: str, posters, tokens):
    """What model `name` takes, from poster arrays and token ids."""
    return {"cnn": posters, "lstm": tokens, "fusion": {POSTER_INPUT: posters, TOKENS_INPUT: tokens}}[name]


def build_models(config: GenreConfig, vocabulary_size: int) -> dict[str, keras.Model]:
    return {
        "cnn": build_poster_cnn(config),
        "lstm": build_overview_lstm(config, vocabulary_size),
        "fusion": build_fusion(config, vocabulary_size),
    }
