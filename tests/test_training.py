"""Each model trains on real movies with its loss going down; the best epoch's weights are kept."""

import keras
import numpy as np
import pytest

from genre_hf.data import SplitSpec, load_movies
from genre_hf.models import build_fusion, build_overview_lstm, build_poster_cnn, init_fusion_trunks
from genre_hf.training import KeepBestWeights, fit, prepare
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def prepared(subset_dir):
    config = tiny_config()
    movies, _ = load_movies(subset_dir, split=SplitSpec.from_config(config))
    vocabulary, train, validation = prepare(config, movies, log=lambda message: None)
    return config, vocabulary, train, validation


@pytest.mark.parametrize("name", ["cnn", "lstm", "fusion"])
def test_each_model_learns(prepared, name):
    config, vocabulary, train, validation = prepared
    keras.utils.set_random_seed(0)
    if name == "cnn":
        model = build_poster_cnn(config)
    elif name == "lstm":
        model = build_overview_lstm(config, len(vocabulary))
    else:
        model = build_fusion(config, len(vocabulary))
        model.get_layer("tfidf").set_idf(train.tokens)
    result = fit(model, name, config, train, validation, epochs=4, learning_rate=3e-3, log=lambda message: None)
    losses = result.history["loss"]
    assert losses[-1] < losses[0], losses
    assert set(result.history) >= {"loss", "val_loss", "precision", "recall", "val_precision", "val_recall"}
    assert result.samples_per_second > 0
    assert model.output_shape == (None, config.num_genres)


def test_fusion_starts_from_the_trained_trunks(prepared):
    config, vocabulary, _, _ = prepared
    cnn, lstm = build_poster_cnn(config), build_overview_lstm(config, len(vocabulary))
    fusion = build_fusion(config, len(vocabulary))
    init_fusion_trunks(fusion, cnn, lstm, trainable=False)
    for name, source in (("block1_conv", cnn), ("word_embedding", lstm), ("overview_embedding", lstm)):
        for ours, theirs in zip(fusion.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    assert not fusion.get_layer("bilstm").trainable and fusion.get_layer("fusion_hidden").trainable


class WeightsPerEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights, self.val_losses = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.val_losses.append(logs["val_loss"])


def test_the_lowest_validation_loss_weights_are_kept(prepared):
    config, vocabulary, train, validation = prepared
    keras.utils.set_random_seed(1)
    model = build_overview_lstm(config, len(vocabulary))
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")  # a high rate: val loss rises
    record, keep = WeightsPerEpoch(), KeepBestWeights(patience=100)
    model.fit(train.tokens, train.labels, validation_data=(validation.tokens, validation.labels),
              epochs=6, batch_size=64, callbacks=[record, keep], verbose=0)
    best = int(np.argmin(record.val_losses))
    assert keep.best_epoch == best + 1
    assert best != len(record.val_losses) - 1, "the test needs a run whose last epoch is not the best"
    for kept, expected in zip(model.get_weights(), record.weights[best]):
        np.testing.assert_array_equal(kept, expected)


def test_patience_stops_training(prepared):
    config, vocabulary, train, validation = prepared
    model = build_overview_lstm(config, len(vocabulary))
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")
    history = model.fit(train.tokens, train.labels, validation_data=(validation.tokens, validation.labels),
                        epochs=30, batch_size=64, callbacks=[KeepBestWeights(patience=2)], verbose=0)
    assert len(history.history["loss"]) < 30
