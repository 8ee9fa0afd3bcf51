"""One experiment: train and calibrate a run, then score it and the baselines on every split but train.

`genre-hf train` saves what this gives as a model folder; each seed of `genre-hf benchmark` runs it
without saving. `training_report` is the record of the run a model folder keeps
(`training_report.json`): the coursework's table (best validation loss, precision and recall at
0.5) and much more.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

from genre_hf.config import GenreConfig
from genre_hf.data.sources import Source
from genre_hf.evaluation.baselines import Baselines
from genre_hf.evaluation.provenance import id_record
from genre_hf.evaluation.published import COURSEWORK, comparable_bce
from genre_hf.evaluation.scoring import score_split
from genre_hf.modeling.encoders import model_titles
from genre_hf.training.distribute import Distribution
from genre_hf.training.trainer import TrainingRun, TrainOptions, train_all


@dataclass
class Scored:
    """One trained and calibrated run, scored with the baselines on every split but train."""

    run: TrainingRun
    baselines: Baselines
    reports: dict  # split -> report (see scoring.score_split)
    scored: dict  # split -> (labels, raw probabilities, calibrated probabilities), for the plots
    seconds: float = 0.0


def train_and_score(config: GenreConfig, movies, *, log=print, options: TrainOptions | None = None,
                    distribution: Distribution | None = None, source=None, report=None,
                    baselines: Baselines | None = None) -> Scored | None:
    """Train, calibrate on validation, and score the models and baselines on validation and test.

    `baselines` already fitted (they have no seed) are reused; otherwise they are fitted here on the
    run's train and validation splits. None on a multi-worker run's workers other than the chief.
    """
    started = time.perf_counter()
    distribution = distribution or Distribution("none")
    run = train_all(config, movies, log=log, options=options, distribution=distribution, source=source, report=report)
    if report is not None and report.streamed:
        log(str(report))
    if not distribution.is_chief:
        return None
    if baselines is None:
        log("Fitting the baselines")
        embed = getattr(run.prepared.encoders["overview"], "sentence_embeddings", None)
        calibration = run.config.calibration
        baselines = Baselines(run.config.genres, calibration.threshold_prior_strength, embed, calibration.max_genres_ratio).fit(
            run.train.texts(), run.validation.texts())
    titles = model_titles(run.prepared.encoders)
    reports, scored = {}, {}
    for split, features in run.prepared.splits.items():
        if split != "train":
            reports[split], raw, calibrated = score_split(run.network, run.config.genres, run.calibration, titles, features, baselines, split)
            scored[split] = (features.labels, raw, calibrated)
    return Scored(run, baselines, reports, scored, time.perf_counter() - started)


def run_timing(scored: Scored, seed: int) -> dict:
    run = scored.run
    return {"seed": seed, "seconds": round(scored.seconds, 1), "prepare_seconds": round(run.prepared.seconds, 1),
            "fit_seconds": {name: round(fit.seconds, 1) for name, fit in run.fits.items()}}


def training_report(scored: Scored, load_report: dict, source: Source, seconds: float, fingerprint: dict | None = None) -> dict:
    """The record of a run a model folder keeps: per model, the coursework's figures (best validation
    loss, precision and recall at 0.5) with ours beside them, the data, splits and timings."""
    import keras
    import tensorflow as tf

    import genre_hf

    run, reports = scored.run, scored.reports
    rows = {}
    for name, fit in run.fits.items():
        best = fit.best_epoch - 1
        scores = reports["validation"]["models"][name]
        rows[name] = {
            "best_epoch": fit.best_epoch,
            "epochs": len(fit.history["loss"]),
            "best_val_loss": fit.history["val_loss"][best],
            "best_val_bce": fit.history["val_bce"][best],
            "val_precision": fit.history["val_precision"][best],
            "val_recall": fit.history["val_recall"][best],
            "bce_calibrated": scores["bce_calibrated"],
            "micro_f1": scores["micro_f1"],
            "micro_f1_tuned": scores["tuned"]["micro_f1"],
            "macro_f1_tuned": scores["tuned"]["macro_f1"],
            "map": scores["map"],
            "seconds": round(fit.seconds, 1),
            "samples_per_second": round(fit.samples_per_second, 1),
            "epoch_seconds": [round(value, 2) for value in fit.epoch_seconds],
            "learning_rate": run.learning_rates.get(name),
            "history": fit.history,
        }
    return {
        "data": str(source),
        "data_name": source.name,
        "data_kind": source.kind,
        "data_revision": (fingerprint or {}).get("revision"),
        "data_identity": source.identity(fingerprint),  # what evaluate knows the training data by, whatever its path
        "load_report": load_report,
        "movies": {split: len(features) for split, features in run.prepared.splits.items()},
        "trained_on": id_record(run.prepared.splits),  # what evaluate checks data against, movie by movie
        "train_genre_counts": {genre: int(n) for genre, n in zip(run.config.genres, run.train.labels.sum(axis=0))},
        "titles": reports["validation"]["titles"],
        "seconds": round(seconds, 1),
        "prepare_seconds": round(run.prepared.seconds, 1),
        "input": run.prepared.input,
        "image_size": run.config.image_size,
        "distribution": {**run.distribution.describe(), "batch_size_per_replica": run.config.training.batch_size,
                         "global_batch_size": run.distribution.global_batch(run.config.training.batch_size)},
        "machine": f"{platform.machine()}, {_cpu_count()} CPU cores",
        "models": rows,
        "versions": {"genre_hf": genre_hf.__version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def coursework_table(training: dict) -> str:
    """Validation figures beside the coursework's (`published.COURSEWORK`), its loss compared over its own column count."""
    genres, columns = len(training["train_genre_counts"]), COURSEWORK["columns"]
    lines = [
        "",
        "| model | best val BCE | calibrated val BCE | val precision @0.5 | val recall @0.5 | micro F1 @0.5 | micro F1 tuned | macro F1 tuned | mAP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for theirs in COURSEWORK["models"].values():
        lines.append(f"| {theirs['title']} | {theirs['val_bce']:.4f} ({columns} columns) | | {theirs['micro_precision']:.3f} | "
                     f"{theirs['micro_recall']:.3f} | | | | |")
    for name, r in training["models"].items():
        lines.append(
            f"| {training['titles'][name]} | {r['best_val_bce']:.4f} ({comparable_bce(r['best_val_bce'], genres):.4f} as {columns} columns) | "
            f"{r['bce_calibrated']:.4f} ({comparable_bce(r['bce_calibrated'], genres):.4f}) | "
            f"{r['val_precision']:.3f} | {r['val_recall']:.3f} | {r['micro_f1']:.3f} | {r['micro_f1_tuned']:.3f} | "
            f"{r['macro_f1_tuned']:.3f} | {r['map']:.3f} |"
        )
    return "\n".join(lines)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
