"""Fit the poster model, the overview model and the fusion model on prepared features.

Features are computed once (`prepare`), then each model is fitted with `fit` on an in-memory
tf.data pipeline; each ends with the weights of its epoch of lowest validation loss.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import datasets
import keras
import numpy as np
import tensorflow as tf

from genre_hf.calibration import fit_model_calibration
from genre_hf.config import MODEL_NAMES, GenreConfig
from genre_hf.data import collect_genres
from genre_hf.encoders import TOKENS_INPUT, Encoder, make_encoders
from genre_hf.features import Featurizer, MovieFeatures, Tokenizer, choose_sequence_length, movie_features
from genre_hf.losses import make_loss, positive_weights
from genre_hf.models import build_models, freeze_trunks, model_arrays


@dataclass
class FitResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    seconds: float
    samples_per_second: float


@dataclass
class Prepared:
    """What training derives from the data before any model is fitted."""

    config: GenreConfig  # with genres, sequence length and encoder pins filled in
    tokenizer: Tokenizer
    encoders: dict[str, Encoder]
    splits: dict[str, MovieFeatures]  # train, validation and (when the data has one) test
    seconds: float = 0.0


@dataclass
class TrainingRun:
    prepared: Prepared
    models: dict[str, keras.Model]  # the three models, views sharing layers with `whole`
    whole: keras.Model
    fits: dict[str, FitResult] = field(default_factory=dict)

    @property
    def config(self) -> GenreConfig:
        return self.prepared.config

    @property
    def train(self) -> MovieFeatures:
        return self.prepared.splits["train"]

    @property
    def validation(self) -> MovieFeatures:
        return self.prepared.splits["validation"]


class KeepBestWeights(keras.callbacks.Callback):
    """Remember the weights of the epoch with the lowest validation loss, restore them at the end,
    and stop after `patience` epochs without improvement."""

    def __init__(self, patience: int, monitor: str = "val_loss"):
        super().__init__()
        self.patience, self.monitor = patience, monitor

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights, self.wait = np.inf, 0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.best:
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class Throughput(keras.callbacks.Callback):
    """Training samples per second of each epoch, the validation pass excluded."""

    def __init__(self, samples: int, log):
        super().__init__()
        self.samples, self.log, self.rates = samples, log, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_test_begin(self, logs=None):
        if getattr(self, "started", None) is not None:
            self.rates.append(self.samples / (time.perf_counter() - self.started))
            self.started = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate")
        self.log(f"  epoch {epoch + 1}: {shown}, {self.rates[-1] if self.rates else 0:,.0f} samples/s")


def prepare(config: GenreConfig, movies: datasets.DatasetDict, log=print) -> Prepared:
    """Genres, vocabulary and sequence length from the training split; features for every split.

    Returns a new config with what was learned from the data; the given one is left as it was.
    """
    started = time.perf_counter()
    train = movies["train"]
    config = dataclasses.replace(config, genres=collect_genres(train))
    if not config.sequence_length:
        config = dataclasses.replace(config, sequence_length=choose_sequence_length(train["overview"], config.sequence_percentile))
    tokenizer = Tokenizer.adapt(config, list(train["overview"]))
    for encoder in make_encoders(config, tokenizer).values():  # e.g. a pretrained encoder's revision
        config = dataclasses.replace(config, **encoder.pinned_settings())
    tokenizer = Tokenizer(config, tokenizer.vocabulary)
    encoders = make_encoders(config, tokenizer)
    featurizer = Featurizer(config, encoders, tokenizer)
    splits = {name: movie_features(movies[name], featurizer) for name in ("train", "validation", "test") if name in movies}
    seconds = time.perf_counter() - started
    log(
        f"Prepared {', '.join(f'{len(split):,} {name}' for name, split in splits.items())} movies in {seconds:.1f} s: "
        f"{config.num_genres} genres, {len(tokenizer.vocabulary):,} tokens, sequences of {config.sequence_length} tokens"
    )
    return Prepared(config, tokenizer, encoders, splits, seconds)


def make_dataset(inputs, labels: np.ndarray, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    name: str,
    config: GenreConfig,
    train: MovieFeatures,
    validation: MovieFeatures,
    epochs: int,
    learning_rate: float,
    log=print,
) -> FitResult:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=make_loss(config, train.labels),
        metrics=[
            keras.metrics.BinaryCrossentropy(name="bce"),
            keras.metrics.Precision(thresholds=0.5, name="precision"),
            keras.metrics.Recall(thresholds=0.5, name="recall"),
        ],
    )
    best = KeepBestWeights(config.patience)
    throughput = Throughput(len(train), log)
    log(f"Training {name} ({model.count_params():,} parameters, up to {epochs} epochs)")
    started = time.perf_counter()
    history = model.fit(
        make_dataset(model_arrays(model, train.inputs), train.labels, config.batch_size, True, config.seed),
        validation_data=make_dataset(model_arrays(model, validation.inputs), validation.labels, 256, False, config.seed),
        epochs=epochs,
        callbacks=[best, throughput],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
    )
    seconds = time.perf_counter() - started
    rate = float(np.median(throughput.rates)) if throughput.rates else 0.0
    log(f"  {name}: best epoch {best.best_epoch} (val loss {best.best:.4f}), {seconds:.0f} s, {rate:,.0f} samples/s")
    history = {key: [float(v) for v in values] for key, values in history.history.items()}
    return FitResult(history, best.best_epoch, seconds, rate)


def train_all(config: GenreConfig, movies: datasets.DatasetDict, log=print, only: tuple[str, ...] = MODEL_NAMES) -> TrainingRun:
    """Prepare features once, fit the single-modality models, then the fusion model on their trunks."""
    keras.utils.set_random_seed(config.seed)
    prepared = prepare(config, movies, log)
    config, train, validation = prepared.config, prepared.splits["train"], prepared.splits["validation"]
    whole, views = build_models(config, prepared.encoders, len(prepared.tokenizer.vocabulary))
    run = TrainingRun(prepared, views, whole)
    learning_rates = {"poster": config.learning_rate, "overview": config.learning_rate, "fusion": config.fusion_learning_rate}
    for name in MODEL_NAMES:
        if name == "fusion":  # on the trained trunks, which it shares with the single models
            freeze_trunks(views)
            if config.wide_tfidf:
                whole.get_layer("tfidf").set_idf(train.inputs[TOKENS_INPUT])
        if name in only:
            run.fits[name] = fit(run.models[name], name, config, train, validation, config.epochs(name), learning_rates[name], log=log)
    return run


def fit_calibration(run: TrainingRun, raw_validation: dict[str, np.ndarray]) -> dict:
    """Per model: a temperature, then per-genre thresholds on the calibrated validation outputs.

    Both come from the validation split only; held-out data never tunes anything.
    """
    config = run.config
    offsets = logit_offsets(config, run.train.labels)
    return {
        name: fit_model_calibration(raw, run.validation.labels, config.genres, config.threshold_prior_strength, offsets)
        for name, raw in raw_validation.items()
    }


def logit_offsets(config: GenreConfig, train_labels: np.ndarray) -> np.ndarray:
    """Per-genre logit corrections that undo class weighting, so probabilities stay calibrated.

    A BCE weighting a genre's positives by w is minimised at logit(p) + log(w); subtracting
    log(w) recovers the unweighted optimum exactly. Plain BCE and focal loss need none.
    """
    if config.loss != "weighted_bce":
        return np.zeros(config.num_genres)
    return -np.log(positive_weights(train_labels, config.class_weight_power))
