"""Each model trains on real movies with its loss going down; the best epoch's weights are kept."""

import keras
import numpy as np
import pytest

from genre_hf.data.loader import load_movies
from genre_hf.data.splits import SplitSpec
from genre_hf.modeling.encoders._base import TOKENS_INPUT
from genre_hf.modeling.models import build_models, input_names, model_arrays
from genre_hf.training.fit import KeepBestWeights, fit_model, learning_rate_at_each_step
from genre_hf.training.prepare import prepare
from genre_hf.training.trainer import head_features
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def prepared(subset_dir):
    config = tiny_config()
    movies, _ = load_movies(subset_dir, split=config.split)
    return prepare(config, movies, log=lambda message: None)


def network(prepared):
    config = prepared.config
    return build_models(config.num_genres, prepared.encoders, config.fusion, len(prepared.tokenizer.vocabulary), config.training.seed)


def test_prepare_returns_a_new_config_and_features_for_every_split(prepared):
    assert prepared.config.genres and prepared.config.tokens.sequence_length > 0
    assert tiny_config().genres == [] and tiny_config().tokens.sequence_length == 0  # the given config is left alone
    assert set(prepared.splits) == {"train", "validation", "test"}
    train = prepared.splits["train"]
    assert train.inputs["poster"].shape == (len(train), 64, 64, 3) and train.inputs["poster"].dtype == np.uint8
    assert train.inputs[TOKENS_INPUT].shape == (len(train), prepared.config.tokens.sequence_length)
    assert train.labels.shape == (len(train), prepared.config.num_genres) and train.labels.sum(axis=1).min() >= 1


@pytest.mark.parametrize("name", ["poster", "overview", "fusion"])
def test_each_model_learns(prepared, name):
    config, train, validation = prepared.config, prepared.splits["train"], prepared.splits["validation"]
    keras.utils.set_random_seed(0)
    built = network(prepared)
    model = built.models[name]
    if name == "fusion":
        built.set_statistics(train.inputs, train.labels)
    result = fit_model(model, name, config, train, validation, epochs=4, learning_rate=3e-3, log=lambda message: None)
    losses = result.history["loss"]
    assert losses[-1] < losses[0], losses
    assert set(result.history) >= {"loss", "val_loss", "precision", "recall", "val_precision", "val_recall"}
    assert result.samples_per_second > 0
    assert model.output_shape == (None, config.num_genres)


def test_the_fusion_model_shares_the_trained_trunks_and_keeps_them_as_trained(prepared):
    built = network(prepared)
    whole, views = built.whole, built.models
    for name, source in (("block1_conv", "poster"), ("bilstm", "overview"), ("overview_embedding", "overview")):
        assert views["fusion"].get_layer(name) is views[source].get_layer(name) is whole.get_layer(name)
    built.freeze_trunks()
    trainable = {layer.name for layer in views["fusion"].layers if layer.trainable_weights}
    assert trainable == {"fusion_head"}  # the head alone: its joint layers and the wide layer
    head = whole.get_layer("fusion_head")
    assert {layer.name for layer in head._flatten_layers(include_self=False) if layer.trainable_weights} == {
        "fusion_hidden", "deep_logits", "wide_logits"}
    # The whole model answers as the three views do, in one pass.
    inputs = {name: values[:6] for name, values in prepared.splits["validation"].inputs.items()}
    outputs = whole(model_arrays(whole, inputs), training=False)
    for name, view in views.items():
        np.testing.assert_allclose(outputs[name], view(model_arrays(view, inputs), training=False), atol=1e-6)


def test_the_fusion_head_learns_on_stored_embeddings_and_the_whole_model_answers_with_it(prepared):
    """The head fitted on embeddings computed once is the fusion model's own head (shared layers):
    after the fit, the whole graph's fusion answer is the head's answer on those embeddings."""
    config, train, validation = prepared.config, prepared.splits["train"], prepared.splits["validation"]
    keras.utils.set_random_seed(0)
    built = network(prepared)
    whole, views = built.whole, built.models
    built.freeze_trunks()
    built.set_statistics(train.inputs, train.labels)
    head, embedder = built.fusion_head()
    assert sorted(input_names(head)) == ["modalities", "overview_embedding", "overview_tokens", "poster_embedding"]
    assert head.count_params() < views["fusion"].count_params() / 2  # no trunk in it
    stored = {name: head_features(embedder, split, input_names(head)) for name, split in (("train", train), ("validation", validation))}
    assert stored["train"].inputs["poster_embedding"].shape == (len(train), config.poster.embedding)
    before = whole.get_layer("fusion_head").hidden.get_weights()[0].copy()
    trunk_before = whole.get_layer("block1_conv").get_weights()[0].copy()
    result = fit_model(head, "fusion", config, stored["train"], stored["validation"], epochs=3, learning_rate=3e-3, log=lambda message: None)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert np.abs(whole.get_layer("fusion_head").hidden.get_weights()[0] - before).max() > 1e-4  # the whole's layer learned
    np.testing.assert_array_equal(whole.get_layer("block1_conv").get_weights()[0], trunk_before)
    inputs = {name: values[:16] for name, values in validation.inputs.items()}
    expected = views["fusion"](model_arrays(views["fusion"], inputs), training=False)
    stored_inputs = {name: values[:16] for name, values in stored["validation"].inputs.items()}
    np.testing.assert_allclose(head(model_arrays(head, stored_inputs), training=False), expected, atol=1e-5)


def test_a_missing_modality_is_blanked_in_the_fusion_model(prepared):
    """The gate zeroes a missing modality's embedding and the wide path, so its input does not matter."""
    built = network(prepared)
    fusion = built.models["fusion"]
    built.set_statistics(prepared.splits["train"].inputs, prepared.splits["train"].labels)  # the blank must matter less than IDF 1
    inputs = {name: values[:8] for name, values in prepared.splits["validation"].inputs.items()}
    other = {name: values[8:16] for name, values in prepared.splits["validation"].inputs.items()}
    for column, modality_inputs in ((0, ["poster"]), (1, ["overview_tokens"])):
        present = np.ones((8, 2), np.float32)
        present[:, column] = 0
        swapped = {**inputs, **{name: other[name] for name in modality_inputs}}
        blank = fusion(model_arrays(fusion, inputs, present), training=False)
        np.testing.assert_allclose(blank, fusion(model_arrays(fusion, swapped, present), training=False), atol=1e-6)
        both = fusion(model_arrays(fusion, inputs), training=False)
        assert np.abs(np.asarray(both) - np.asarray(blank)).max() > 1e-4


class WeightsPerEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights, self.val_losses = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.val_losses.append(logs["val_loss"])


def test_the_lowest_validation_loss_weights_are_kept(prepared):
    train, validation = prepared.splits["train"], prepared.splits["validation"]
    keras.utils.set_random_seed(1)
    model = network(prepared).models["overview"]
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")  # a high rate: val loss rises
    record, keep = WeightsPerEpoch(), KeepBestWeights(patience=100)
    model.fit(model_arrays(model, train.inputs), train.labels, validation_data=(model_arrays(model, validation.inputs), validation.labels),
              epochs=6, batch_size=64, callbacks=[record, keep], verbose=0)
    best = int(np.argmin(record.val_losses))
    assert keep.best_epoch == best + 1
    assert best != len(record.val_losses) - 1, "the test needs a run whose last epoch is not the best"
    for kept, expected in zip(model.get_weights(), record.weights[best]):
        np.testing.assert_array_equal(kept, expected)


def test_patience_stops_training(prepared):
    train, validation = prepared.splits["train"], prepared.splits["validation"]
    model = network(prepared).models["overview"]
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")
    history = model.fit(model_arrays(model, train.inputs), train.labels, validation_data=(model_arrays(model, validation.inputs), validation.labels),
                        epochs=30, batch_size=64, callbacks=[KeepBestWeights(patience=2)], verbose=0)
    assert len(history.history["loss"]) < 30


def test_the_cosine_schedule_warms_up_over_the_first_epoch_then_decays_to_zero():
    rate = learning_rate_at_each_step("cosine", 1e-2, epochs=5, steps_per_epoch=10)
    at = {step: float(rate(step)) for step in (0, 5, 10, 30, 50)}
    # linear to the peak over epoch 1, then 0.5 * (1 + cos(pi * t)) of it over the 40 steps left
    expected = {0: 0.0, 5: 5e-3, 10: 1e-2, 30: 5e-3, 50: 0.0}
    for step, value in expected.items():
        assert at[step] == pytest.approx(value, abs=1e-9), step
    assert learning_rate_at_each_step("constant", 1e-2, epochs=5, steps_per_epoch=10) == 1e-2


def test_a_cosine_schedule_runs_every_epoch_and_keeps_the_best(prepared):
    """Patience 1 at a rate that makes validation loss rise would stop a constant-rate run; the
    cosine run goes on (its rate is high early by design) and still ends on its best epoch."""
    config = tiny_config(genres=prepared.config.genres, poster={"schedule": "cosine"}, training={"patience": 1, "seed": 3})
    train, validation = prepared.splits["train"], prepared.splits["validation"]
    keras.utils.set_random_seed(3)
    model = network(prepared).models["poster"]
    fit = fit_model(model, "poster", config, train, validation, epochs=5, learning_rate=3e-2, log=lambda message: None)
    losses = fit.history["val_loss"]
    assert len(losses) == 5
    assert any(losses[i] >= min(losses[:i]) for i in range(1, 4)), "the test needs a run that patience 1 would have stopped"
    assert fit.best_epoch == int(np.argmin(losses)) + 1
    assert float(model.optimizer.learning_rate) < 3e-2 * 0.01  # at the last step: decayed to near zero


def test_the_fused_bilstm_is_keras_bidirectional_lstm_in_one_op_per_direction():
    from keras import layers

    from genre_hf.modeling.layers import FusedBiLSTM, MaskedMean

    tokens = np.random.default_rng(0).integers(2, 300, size=(5, 30))
    tokens[1, 20:] = 0
    tokens[2, 3:] = 0  # end-padded, as TextVectorization pads
    inputs = keras.Input((30,), dtype="int32")
    embedded = layers.Embedding(300, 16, mask_zero=True)(inputs)
    reference, fused = layers.Bidirectional(layers.LSTM(12, return_sequences=True)), FusedBiLSTM(12)
    keras_model = keras.Model(inputs, MaskedMean()(reference(embedded)))
    fused_model = keras.Model(inputs, MaskedMean()(fused(embedded)))
    for ours, theirs in zip(fused.weights, reference.weights):  # same shapes, same order, same gate layout
        ours.assign(theirs)
    np.testing.assert_allclose(fused_model(tokens), keras_model(tokens), atol=1e-5)
    blank = fused_model(np.zeros((1, 30), "int32"))
    assert np.isfinite(blank).all() and not np.asarray(blank).any()  # no word: zeros, not NaN
    fresh = FusedBiLSTM(12)
    fresh.build((None, 30, 16))
    np.testing.assert_array_equal(fresh.weights[2].numpy()[12:24], 1.0)  # the forget gate starts open, as in Keras


def _rewrite_split_rows(folder, split: str, spec: SplitSpec) -> int:
    """Give every movie of `split` another overview and a genre no other movie has; returns how many."""
    import csv

    path = folder / "IMDB_overview_genres.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    changed = 0
    for row in rows:
        if spec.of(row[0]) == split:
            row[1], row[-1] = "['Documentary']", "Space pirates plan a heist on a frozen moon while a detective watches."
            changed += 1
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return changed


def test_the_test_split_never_tunes_anything(data_dir, tmp_path):
    """Three trainings of the same movies: one as given, one whose test rows are rewritten (other
    overviews, a new genre), one whose validation rows are. Thresholds and temperatures must not move
    with the test rows, and must move with the validation rows (else this test could not fail). Each run
    is `train_and_score`, what `genre-hf train` saves the calibration of (thresholds.json) and scores with."""
    from genre_hf.evaluation.experiment import train_and_score
    from genre_hf.training.prepare import load_training_data
    from tests.conftest import write_subset

    config = tiny_config(epochs=1)
    spec = config.split
    calibration = {}
    for variant in ("given", "test", "validation"):
        folder = write_subset(data_dir, tmp_path / variant, rows=300)
        if variant != "given":
            assert _rewrite_split_rows(folder, variant, spec) > 20
        movies, _, _ = load_training_data(str(folder), config, log=lambda message: None)
        scored = train_and_score(config, movies, log=lambda message: None)
        calibration[variant] = {"genres": scored.run.config.genres, "models": scored.run.calibration}
        calibration[variant + " test scores"] = scored.reports["test"]["models"]["fusion"]["map"]
    assert calibration["test"] == calibration["given"]  # every temperature, offset and threshold
    assert "Documentary" not in calibration["test"]["genres"]  # the genre list comes from train alone
    assert calibration["test test scores"] != calibration["given test scores"]  # the test rows did change
    moved = [name for name in ("poster", "overview", "fusion")
             if calibration["validation"]["models"][name] != calibration["given"]["models"][name]]
    assert moved == ["poster", "overview", "fusion"]


def test_the_neighbour_vote_weighs_the_nearest_training_movies_genres_and_leaves_a_training_movie_out():
    from genre_hf.modeling.layers import NeighbourGenres

    rng = np.random.default_rng(0)
    keys = rng.normal(size=(40, 8)).astype(np.float32)
    features = np.concatenate([rng.normal(size=(40, 4)), keys], axis=1).astype(np.float32)  # the vote reads columns 4..11
    labels = (rng.random((40, 5)) < 0.3).astype(np.float32)
    layer = NeighbourGenres(40, 4, 8, 5, k=3, temperature=0.05)
    layer.set_index(features, labels)

    def expected(rows, leave_out):
        unit = keys / np.linalg.norm(keys, axis=1, keepdims=True)
        similarity = unit[rows] @ unit.T
        if leave_out:
            similarity[np.arange(len(rows)), rows] = -np.inf
        nearest = np.argsort(-similarity, axis=1)[:, :3]
        top = np.take_along_axis(similarity, nearest, 1) / 0.05
        weights = np.exp(top - top.max(1, keepdims=True))
        weights /= weights.sum(1, keepdims=True)
        return (weights[..., None] * labels[nearest]).sum(1)

    rows = np.arange(6)
    np.testing.assert_allclose(layer(features[rows], training=False), expected(rows, False), atol=5e-3)
    assert not np.allclose(expected(rows, False), expected(rows, True), atol=0.05)  # leaving itself out matters
    np.testing.assert_allclose(layer(features[rows], training=True), expected(rows, True), atol=5e-3)
