"""Fit one model on prepared features: `fit` on tf.data pipelines, the weights of its best epoch kept.

Each replica reads `training.batch_size` movies a step (on one device, or under a `tf.distribute`
strategy: `distribute.py`); the model ends with the weights of its epoch of lowest validation loss.
At a constant learning rate training stops after `training.patience` epochs without improvement; on a
cosine schedule (`config.schedule`) it runs every epoch, since the rate is high early by design.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.features.cache import CachedFeatures
from genre_hf.features.featurizer import MovieFeatures
from genre_hf.features.pipeline import input_pipeline
from genre_hf.modeling.fusion import MODALITIES_INPUT
from genre_hf.modeling.models import input_names
from genre_hf.training.distribute import Distribution
from genre_hf.training.losses import make_loss


@dataclass
class FitResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    seconds: float
    samples_per_second: float
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch, validation included


class KeepBestWeights(keras.callbacks.Callback):
    """Remember the weights of the epoch with the lowest validation loss, restore them at the end,
    and stop after `patience` epochs without improvement.

    Under a strategy every worker sees the same (all-reduced) validation loss, so all of them keep
    the same epoch and stop together.
    """

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
    """Training samples per second of each epoch (the validation pass excluded), and each epoch's time."""

    def __init__(self, samples: int, log):
        super().__init__()
        self.samples, self.log, self.rates, self.epoch_seconds = samples, log, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = self.epoch_started = time.perf_counter()

    def on_test_begin(self, logs=None):
        if getattr(self, "started", None) is not None:
            self.rates.append(self.samples / (time.perf_counter() - self.started))
            self.started = None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self.epoch_started)
        logs = logs or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate")
        self.log(f"  epoch {epoch + 1}: {shown}, {self.rates[-1] if self.rates else 0:,.0f} samples/s")


def fit_model(
    model: keras.Model,
    name: str,
    config: GenreConfig,
    train: MovieFeatures | CachedFeatures,
    validation: MovieFeatures | CachedFeatures,
    epochs: int,
    learning_rate: float,
    log=print,
    distribution: Distribution | None = None,
) -> FitResult:
    """Compile (inside the strategy's scope) and fit on tf.data pipelines over the features; each
    replica reads `training.batch_size` movies a step."""
    distribution = distribution or Distribution("none")
    training = config.training
    steps = math.ceil(len(train) / distribution.global_batch(training.batch_size))
    schedule = config.schedule(name)
    with distribution.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate_at_each_step(schedule, learning_rate, epochs, steps)),
            loss=make_loss(training, train.labels),
            metrics=[
                keras.metrics.BinaryCrossentropy(name="bce"),
                keras.metrics.Precision(thresholds=0.5, name="precision"),
                keras.metrics.Recall(thresholds=0.5, name="recall"),
            ],
        )
        # Built now, not inside the first traced step: Keras builds it there when no strategy is set, and a
        # step that creates variables is traced twice (0.4-0.8 s a model: docs/scaling.md, "The first step's trace").
        model.optimizer.build(model.trainable_variables)
    names = [key for key in input_names(model) if key != MODALITIES_INPUT]
    both = MODALITIES_INPUT in input_names(model)
    train_data = distribution.datasets(lambda context: input_pipeline(train, names, training.batch_size, True, training.seed, context, both))
    validation_data = distribution.datasets(lambda context: input_pipeline(validation, names, 256, False, training.seed, context, both))
    best = KeepBestWeights(training.patience if schedule == "constant" else epochs)
    throughput = Throughput(len(train), log)
    length = f"up to {epochs} epochs" if schedule == "constant" else f"{epochs} epochs, {schedule} learning rate"
    log(f"Training {name} ({model.count_params():,} parameters, {length})")
    started = time.perf_counter()
    with warnings.catch_warnings():  # Keras learns a distributed dataset's length by running out of it
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            callbacks=[best, throughput],
            shuffle=False,  # the tf.data pipeline shuffles
            verbose=0,
        )
    seconds = time.perf_counter() - started
    rate = float(np.median(throughput.rates)) if throughput.rates else 0.0
    log(f"  {name}: best epoch {best.best_epoch} (val loss {best.best:.4f}), {seconds:.0f} s, {rate:,.0f} samples/s")
    history = {key: [float(v) for v in values] for key, values in history.history.items()}
    return FitResult(history, best.best_epoch, seconds, rate, throughput.epoch_seconds)


def learning_rate_at_each_step(schedule: str, rate: float, epochs: int, steps_per_epoch: int):
    """Adam's learning rate: `rate` throughout, or ("cosine") rising linearly from 0 over the first
    epoch, then down a half cosine to 0 at the end of the last."""
    if schedule == "constant":
        return rate
    warmup = steps_per_epoch if epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(0.0 if warmup else rate, max(1, steps_per_epoch * epochs - warmup),
                                                  warmup_target=rate if warmup else None, warmup_steps=warmup)
