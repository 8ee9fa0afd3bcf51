"""Fit the poster model, the overview model and the fusion model on prepared features.

Features are computed once (`prepare`): in memory for small data, else into an on-disk cache
(`streaming.py`). Each model is then fitted with `fit` on a tf.data pipeline over them, on one
device or under a `tf.distribute` strategy (`distribute.py`), and ends with the weights of its
epoch of lowest validation loss.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field

import datasets
import keras
import numpy as np

from genre_hf.config import MODEL_NAMES, GenreConfig
from genre_hf.data.loader import iter_movies
from genre_hf.features.cache import CachedFeatures, bytes_per_movie, cached_features, choose_input, feature_key, input_pipeline
from genre_hf.features.featurizer import CHUNK, Featurizer, MovieFeatures, Tokenizer, choose_sequence_length, movie_features
from genre_hf.modeling.encoders import TOKENS_INPUT, Encoder, make_encoders
from genre_hf.modeling.models import MODALITIES_INPUT, build_models, freeze_trunks, fusion_head, input_names
from genre_hf.training.calibration import fit_model_calibration
from genre_hf.training.distribute import Distribution
from genre_hf.training.losses import make_loss, positive_weights

SPLITS = ("train", "validation", "test")


@dataclass
class TrainOptions:
    """How a run is carried out (not what is learned: that is the config)."""

    input: str = "auto"  # "memory", "stream" (an on-disk feature cache) or "auto" (by size: streaming.choose_input)
    cache_dir: str | None = None  # where feature caches live; default: streaming.default_cache_dir()
    strategy: str = "none"  # "none", "mirrored" or "multiworker" (see distribute.py)
    cpu_devices: int = 0  # mirrored without GPUs: split the CPU into this many logical devices (for testing)
    scale_learning_rate: bool = True  # learning rate x replicas (see distribute.py)


@dataclass
class FitResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    seconds: float
    samples_per_second: float
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch, validation included


@dataclass
class Prepared:
    """What training derives from the data before any model is fitted."""

    config: GenreConfig  # with genres, sequence length and encoder pins filled in
    tokenizer: Tokenizer
    encoders: dict[str, Encoder]
    splits: dict[str, MovieFeatures | CachedFeatures]  # train, validation and (when the data has one) test
    seconds: float = 0.0
    input: str = "memory"  # where the features are: "memory", or "stream" (an on-disk cache)


@dataclass
class TrainingRun:
    prepared: Prepared
    models: dict[str, keras.Model]  # the three models, views sharing layers with `whole`
    whole: keras.Model
    fits: dict[str, FitResult] = field(default_factory=dict)
    distribution: Distribution = field(default_factory=lambda: Distribution("none"))
    learning_rates: dict[str, float] = field(default_factory=dict)  # as used (scaled with the replicas)

    @property
    def config(self) -> GenreConfig:
        return self.prepared.config

    @property
    def train(self) -> MovieFeatures | CachedFeatures:
        return self.prepared.splits["train"]

    @property
    def validation(self) -> MovieFeatures | CachedFeatures:
        return self.prepared.splits["validation"]


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


def prepare(
    config: GenreConfig,
    movies,
    log=print,
    *,
    input: str = "auto",
    cache_dir=None,
    source=None,
    report=None,
) -> Prepared:
    """Genres, vocabulary and sequence length from a pass over the training split; features for every split.

    `movies` is a `DatasetDict` or a streamed `IterableDatasetDict`. Features are kept in memory or
    written to an on-disk cache (`input`: "memory", "stream", or "auto": by their size); `source`
    (see `data.source_fingerprint`) names the data in the cache's key, so a later run reuses it.
    `report` (a `data.LoadReport`) gets the rows read and skipped while featurizing.
    Returns a new config with what was learned from the data; the given one is left as it was.
    """
    started = time.perf_counter()
    genres, lengths, vocabulary = scan_train(config, movies["train"])
    if not lengths:
        raise ValueError("the data has no usable train movies; see the report above")
    config = dataclasses.replace(config, genres=genres)
    if not config.sequence_length:
        config = dataclasses.replace(config, sequence_length=choose_sequence_length(lengths, config.sequence_percentile))
    tokenizer = Tokenizer(config, vocabulary)
    for encoder in make_encoders(config, tokenizer).values():  # e.g. a pretrained encoder's revision
        config = dataclasses.replace(config, **encoder.pinned_settings())
    tokenizer = Tokenizer(config, tokenizer.vocabulary)
    encoders = make_encoders(config, tokenizer)
    featurizer = Featurizer(config, encoders, tokenizer)
    names = [name for name in SPLITS if name in movies]
    known = [len(movies[name]) for name in names if isinstance(movies[name], datasets.Dataset)]
    per_movie = bytes_per_movie(featurizer.input_specs(), config.num_genres)
    input = choose_input(input, sum(known) if len(known) == len(names) else None, per_movie, log if input == "auto" else _quiet)
    if input == "memory":
        splits = {name: movie_features(movies[name], featurizer, report) for name in names}
    else:
        if source is None:  # data given in code, not by a source: a cache for this run only
            import uuid

            source = f"unnamed-{uuid.uuid4().hex}"
        splits = {
            name: cached_features(movies[name], featurizer, feature_key(config, tokenizer.vocabulary, source, name), cache_dir, report, log)
            for name in names
        }
    if report is not None:
        report.rows_kept = {name: len(split) for name, split in splits.items()}
    if config.neighbour_k:  # the neighbour vote's index holds the training movies
        config = dataclasses.replace(config, neighbour_index_size=len(splits["train"]))
    seconds = time.perf_counter() - started
    log(
        f"Prepared {', '.join(f'{len(split):,} {name}' for name, split in splits.items())} movies in {seconds:.1f} s: "
        f"{config.num_genres} genres, {len(tokenizer.vocabulary):,} tokens, sequences of {config.sequence_length} tokens, "
        f"posters of {config.image_size} px"
    )
    return Prepared(config, tokenizer, encoders, splits, seconds, input)


def scan_train(config: GenreConfig, train) -> tuple[list[str], list[int], list[str]]:
    """(genres, overview lengths in words, vocabulary) from one pass over the training split, a chunk
    at a time (a streamed split too): the vocabulary is adapted on the overviews as they go by."""
    genres: set[str] = set()
    lengths: list[int] = []

    def overviews():
        for batch in iter_movies(train, CHUNK):
            for text, movie_genres in zip(batch["overview"], batch["genres"]):
                genres.update(movie_genres)
                lengths.append(len(text.split()))
                yield text

    vocabulary = Tokenizer.adapt(config, overviews()).vocabulary
    return sorted(genres), lengths, vocabulary


def _quiet(message: str) -> None:
    pass


def fit(
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
    replica reads `config.batch_size` movies a step."""
    distribution = distribution or Distribution("none")
    with distribution.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=make_loss(config, train.labels),
            metrics=[
                keras.metrics.BinaryCrossentropy(name="bce"),
                keras.metrics.Precision(thresholds=0.5, name="precision"),
                keras.metrics.Recall(thresholds=0.5, name="recall"),
            ],
        )
    names = [key for key in input_names(model) if key != MODALITIES_INPUT]
    both = MODALITIES_INPUT in input_names(model)
    train_data = distribution.datasets(lambda context: input_pipeline(train, names, config.batch_size, True, config.seed, context, both))
    validation_data = distribution.datasets(lambda context: input_pipeline(validation, names, 256, False, config.seed, context, both))
    best = KeepBestWeights(config.patience)
    throughput = Throughput(len(train), log)
    log(f"Training {name} ({model.count_params():,} parameters, up to {epochs} epochs)")
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


def train_all(
    config: GenreConfig,
    movies,
    log=print,
    only: tuple[str, ...] = MODEL_NAMES,
    *,
    options: TrainOptions | None = None,
    distribution: Distribution | None = None,
    source=None,
    report=None,
) -> TrainingRun:
    """Prepare features once, fit the single-modality models, then the fusion model from their trunks.

    Under a strategy the models are built inside its scope and the learning rates are scaled with
    the number of replicas, unless `options.scale_learning_rate` is off (see distribute.py).
    """
    options = options or TrainOptions()
    distribution = distribution or Distribution("none")
    keras.utils.set_random_seed(config.seed)
    prepared = prepare(config, movies, log, input=options.input, cache_dir=options.cache_dir, source=source, report=report)
    config, train, validation = prepared.config, prepared.splits["train"], prepared.splits["validation"]
    if len(validation) == 0:
        raise ValueError("the data has no usable validation movies; see the report above")
    with distribution.scope():
        whole, views = build_models(config, prepared.encoders, len(prepared.tokenizer.vocabulary))
    run = TrainingRun(prepared, views, whole, distribution=distribution)
    base = {"poster": config.learning_rate, "overview": config.learning_rate, "fusion": config.fusion_learning_rate}
    run.learning_rates = {name: distribution.learning_rate(rate, options.scale_learning_rate) for name, rate in base.items()}
    if distribution.replicas > 1:
        log(f"{distribution.replicas} replicas: global batch {distribution.global_batch(config.batch_size)} "
            f"({config.batch_size} a replica), learning rates x{run.learning_rates['poster'] / base['poster']:g}")
    for name in MODEL_NAMES:
        if name == "fusion":  # on the trained trunks, which it shares with the single models
            freeze_trunks(views)
            if config.wide_tfidf:
                whole.get_layer("tfidf").set_idf(train.inputs[TOKENS_INPUT])
            if "neighbour_genres" in {layer.name for layer in whole.layers}:
                whole.get_layer("neighbour_genres").set_index(train.inputs[prepared.encoders["overview"].input_name], train.labels)
        if name not in only:
            continue
        if name == "fusion" and stores_embeddings(config, prepared.input, distribution, log):
            head, sources = fusion_head(whole, config, prepared.encoders)
            stored = {split: head_features(sources, features, input_names(head)) for split, features in (("train", train), ("validation", validation))}
            run.fits[name] = fit(head, name, config, stored["train"], stored["validation"], config.epochs(name), run.learning_rates[name], log=log)
        else:
            run.fits[name] = fit(run.models[name], name, config, train, validation, config.epochs(name), run.learning_rates[name],
                                 log=log, distribution=distribution)
    return run


def stores_embeddings(config: GenreConfig, input: str, distribution: Distribution, log=print) -> bool:
    """Whether the fusion head trains on stored embeddings (config.fusion_on_stored_embeddings): only
    with the features in memory (they are held in memory too) and on one device."""
    if not config.fusion_on_stored_embeddings:
        return False
    why = "the features are streamed" if input != "memory" else f"{distribution.replicas} replicas" if distribution.replicas > 1 else ""
    if why:
        log(f"The fusion head trains through the frozen trunks, not on stored embeddings: {why}")
    return not why


def head_features(sources: keras.Model | None, features: MovieFeatures | CachedFeatures, names: list[str]) -> MovieFeatures:
    """What the fusion head reads for every movie of a split, in memory: the frozen trunks'
    embeddings (computed once, in inference mode) and the inputs it reads as they are."""
    inputs = {}
    if sources is not None:
        pipeline = input_pipeline(features, input_names(sources), 256, False, 0)
        inputs = {name: np.asarray(value) for name, value in sources.predict(pipeline, verbose=0).items()}
    inputs.update({name: np.asarray(features.inputs[name]) for name in names if name not in inputs and name != MODALITIES_INPUT})
    return MovieFeatures(list(features.ids), inputs, np.asarray(features.labels))


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
