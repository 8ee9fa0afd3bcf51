"""Score a trained classifier on any data the loader accepts: what `genre-hf evaluate` runs.

Without a split every row is scored (a held-out folder has no split). It says which rows it scored
and whether training fitted or tuned on them (`provenance.py`): scoring every row of the training
data includes the rows the models were fitted and tuned on, and gets a warning. Nothing is tuned
here: temperatures and thresholds come from the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.loader import all_rows, load_movies
from genre_hf.data.sources import Source
from genre_hf.evaluation import results
from genre_hf.evaluation.baselines import Baselines
from genre_hf.evaluation.provenance import provenance
from genre_hf.evaluation.scoring import score_split
from genre_hf.features.cache import cached_features, feature_key
from genre_hf.features.featurizer import movie_features
from genre_hf.features.input_mode import bytes_per_movie, choose_input


@dataclass
class Evaluation:
    report: dict  # scoring.score_split's report, with the model, data, load report and provenance
    results: dict  # results.build("evaluate", ...)
    labels: np.ndarray
    raw: dict[str, np.ndarray]  # per model and baseline, for the plots
    calibrated: dict[str, np.ndarray]


def evaluate_classifier(classifier, data, *, model: str = "", split: str | None = None, columns: ColumnNames | None = None,
                        baselines_from: str | None = None, training: dict | None = None, log=print, input: str = "auto",
                        cache_dir=None) -> Evaluation:
    """Score `classifier` on `data` (one split, or every row). `training` is the model's training
    record (`training_report.json`), which says what it was trained on; `input` and `cache_dir` as
    in training (features in memory for small data, else in an on-disk cache: the one training
    built, when it is the same data, split and model)."""
    started = time.perf_counter()
    source, config = Source.of(data), classifier.config
    per_movie = bytes_per_movie(classifier.featurizer.input_specs(), config.num_genres)
    input = choose_input(input, source.count() if input == "auto" else None, per_movie, log)
    movies, load_report = load_movies(source, columns=columns, split=config.split, streaming=input == "stream")
    log(str(load_report))
    counts = {name: len(part) for name, part in movies.items()} if not load_report.streamed else {}
    dataset = all_rows(movies, split)
    fingerprint = source.fingerprint(columns)
    if input == "memory":
        features = movie_features(dataset, classifier.featurizer, load_report)
    else:
        features = cached_features(dataset, classifier.featurizer, feature_key(classifier.featurizer, fingerprint, split or "all"),
                                   cache_dir, load_report, log)
        if load_report.streamed:
            load_report.rows_kept = {split or "all": len(features)}
            log(str(load_report))
    if len(features) == 0:
        raise ValueError("no usable movies to score")
    origin = provenance(split, counts, load_report, str(source), training, list(features.ids), source.identity(fingerprint))
    log(("WARNING: " if origin["warn"] else "") + origin["note"])
    baselines = None
    if baselines_from:
        train_movies, _ = load_movies(baselines_from, split=config.split)
        embed = getattr(classifier.encoders["overview"], "sentence_embeddings", None)
        baselines = Baselines(config.genres, config.calibration.threshold_prior_strength, embed, config.calibration.max_genres_ratio).fit(train_movies["train"],
                                                                                                      train_movies["validation"])
    report, raw, calibrated = score_split(classifier.network, classifier.genres, classifier.calibration, classifier.titles, features, baselines, split or "all")
    report.update(model=model, data=str(source), load_report=load_report.to_dict(), provenance=origin)
    metrics, per_genre = results.summarize([report])
    found = results.build(
        "evaluate", split=split or "all", used_in_training=origin["used_in_training"], seeds=[config.training.seed],
        data=results.data_facts(source, {split or "all": features}, load_report.to_dict(), fingerprint),
        config=config, titles=report["titles"], metrics=metrics, per_genre=per_genre,
        timing={"total_seconds": round(time.perf_counter() - started, 1), "runs": []}, model=model, provenance=origin,
    )
    return Evaluation(report, found, features.labels, raw, calibrated)
