"""A training run: the poster model, the overview model, then the fusion model on their trunks, calibrated.

Features are computed once (`prepare.py`). Each model is fitted in turn (`fit.py`) on one device or
under a `tf.distribute` strategy (`distribute.py`); before the fusion model, the network learns its
training-split statistics (`GenreNetwork.set_statistics`). Last, each model's temperature and
per-genre thresholds are fitted on the validation split (`calibration.py`), so a run ends with
everything a model folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets
import keras
import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.features.cache import CachedFeatures
from genre_hf.features.featurizer import MovieFeatures
from genre_hf.features.input_mode import decide_input
from genre_hf.features.pipeline import input_pipeline
from genre_hf.modeling import MODEL_NAMES
from genre_hf.modeling.fusion import MODALITIES_INPUT
from genre_hf.modeling.models import GenreNetwork, build_models, input_names
from genre_hf.training.calibration import fit_calibration
from genre_hf.training.distribute import PEER_TIMEOUT, Distribution
from genre_hf.training.fit import FitResult, fit_model
from genre_hf.training.prepare import SPLITS, Prepared, prepare


@dataclass
class TrainOptions:
    """How a run is carried out (not what is learned: that is the config)."""

    input: str = "auto"  # "memory", "stream" (an on-disk feature cache) or "auto" (by size: features.input_mode)
    cache_dir: str | None = None  # where feature caches live; default: features.cache.default_cache_dir()
    strategy: str = "none"  # "none", "mirrored" or "multiworker" (see distribute.py)
    cpu_devices: int = 0  # mirrored without GPUs: split the CPU into this many logical devices (for testing)
    peer_timeout: float = PEER_TIMEOUT  # multiworker: seconds to wait for the other workers to come up
    scale_learning_rate: bool = True  # learning rate x replicas (see distribute.py)


@dataclass
class TrainingRun:
    prepared: Prepared
    network: GenreNetwork
    fits: dict[str, FitResult] = field(default_factory=dict)
    distribution: Distribution = field(default_factory=lambda: Distribution("none"))
    learning_rates: dict[str, float] = field(default_factory=dict)  # as used (scaled with the replicas)
    calibration: dict = field(default_factory=dict)  # thresholds.json's models: per model, temperature and thresholds

    @property
    def config(self) -> GenreConfig:
        return self.prepared.config

    @property
    def models(self) -> dict[str, keras.Model]:
        return self.network.models

    @property
    def train(self) -> MovieFeatures | CachedFeatures:
        return self.prepared.train

    @property
    def validation(self) -> MovieFeatures | CachedFeatures:
        return self.prepared.validation


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
    """Prepare features once, fit the single-modality models, then the fusion model from their
    trunks, then calibrate every model on the validation split.

    Under a strategy the models are built inside its scope and the learning rates are scaled with
    the number of replicas, unless `options.scale_learning_rate` is off (see distribute.py).
    `options.input` "auto" (a run not loaded by `load_training_data`, which decides it) is decided
    here from the data's size.
    """
    options = options or TrainOptions()
    distribution = distribution or Distribution("none")
    keras.utils.set_random_seed(config.training.seed)
    input = options.input
    if input == "auto":
        sizes = [len(movies[name]) for name in SPLITS if name in movies and isinstance(movies[name], datasets.Dataset)]
        input = decide_input(input, sum(sizes) if len(sizes) == len([n for n in SPLITS if n in movies]) else None, config, log)
    prepared = prepare(config, movies, log, input=input, cache_dir=options.cache_dir, source=source, report=report)
    config, train, validation = prepared.config, prepared.train, prepared.validation
    if len(validation) == 0:
        raise ValueError("the data has no usable validation movies; see the report above")
    found = config.problems()  # what the data added (genres, sizes) within range, before a layer exists
    if found:
        raise ValueError("the model would be out of range: " + "; ".join(found))
    with distribution.scope():
        network = build_models(config.num_genres, prepared.encoders, config.fusion, len(prepared.tokenizer.vocabulary), config.training.seed)
    run = TrainingRun(prepared, network, distribution=distribution)
    base = {name: config.learning_rate_of(name) for name in MODEL_NAMES}
    run.learning_rates = {name: distribution.learning_rate(rate, options.scale_learning_rate) for name, rate in base.items()}
    if distribution.replicas > 1:
        batch = config.training.batch_size
        log(f"{distribution.replicas} replicas: global batch {distribution.global_batch(batch)} "
            f"({batch} a replica), learning rates x{run.learning_rates['poster'] / base['poster']:g}")
    for name in MODEL_NAMES:
        if name == "fusion":  # on the trained trunks, which it shares with the single models
            network.freeze_trunks()
            network.set_statistics(train.inputs, train.labels)
        if name not in only:
            continue
        epochs, rate = config.epochs(name), run.learning_rates[name]
        if name == "fusion" and stores_embeddings(config, prepared.input, distribution, log):
            head, embedder = network.fusion_head()
            stored = {split: head_features(embedder, features, input_names(head)) for split, features in (("train", train), ("validation", validation))}
            run.fits[name] = fit_model(head, name, config, stored["train"], stored["validation"], epochs, rate, log=log)
        else:
            run.fits[name] = fit_model(run.models[name], name, config, train, validation, epochs, rate, log=log, distribution=distribution)
    run.calibration = fit_calibration(config, train.labels, validation.labels, network.raw_outputs(validation.inputs))
    return run


def stores_embeddings(config: GenreConfig, input: str, distribution: Distribution, log=print) -> bool:
    """Whether the fusion head trains on stored embeddings (`FusionSettings.on_stored_embeddings`): only
    with the features in memory (they are held in memory too) and without a tf.distribute strategy
    (whose variables the head shares, mirrored, with the trunks)."""
    if not config.fusion.on_stored_embeddings:
        return False
    why = "the features are streamed" if input != "memory" else f"the {distribution.kind} strategy" if distribution.strategy is not None else ""
    if why:
        log(f"The fusion head trains through the frozen trunks, not on stored embeddings: {why}")
    return not why


def head_features(embedder: keras.Model | None, features: MovieFeatures | CachedFeatures, names: list[str]) -> MovieFeatures:
    """What the fusion head reads for every movie of a split, in memory: the frozen trunks'
    embeddings (computed once, in inference mode) and the inputs it reads as they are."""
    inputs = {}
    if embedder is not None:
        pipeline = input_pipeline(features, input_names(embedder), 256, False, 0)
        inputs = {name: np.asarray(value) for name, value in embedder.predict(pipeline, verbose=0).items()}
    inputs.update({name: np.asarray(features.inputs[name]) for name in names if name not in inputs and name != MODALITIES_INPUT})
    return MovieFeatures(list(features.ids), inputs, np.asarray(features.labels))
