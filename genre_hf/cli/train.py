"""The end-to-end training run behind `genre-hf train`: load, train, calibrate, benchmark, save, push.

Everything is written into one model folder that the Hub can take as is; the folder appears only
once it is complete. `train_and_score` (everything but the saving) is also what each seed of
`genre-hf benchmark` runs.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from genre_hf.config import GenreConfig
from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.loader import load_movies
from genre_hf.data.sources import Source
from genre_hf.data.splits import SplitSpec
from genre_hf.evaluation import results
from genre_hf.evaluation.published import COURSEWORK, comparable_bce
from genre_hf.evaluation.scoring import Baselines, benchmark, model_probabilities, to_markdown
from genre_hf.features.cache import choose_input, estimated_bytes_per_movie
from genre_hf.hub.card import BENCHMARK_JSON, BENCHMARK_MD, TRAINING_JSON
from genre_hf.inference.classifier import GenreClassifier
from genre_hf.training.distribute import Distribution, make_distribution
from genre_hf.training.trainer import TrainingRun, TrainOptions, fit_calibration, train_all


@dataclass
class Scored:
    """One trained and calibrated run, scored with the baselines on every split but train."""

    run: TrainingRun
    classifier: GenreClassifier
    baselines: Baselines
    reports: dict  # split -> report (see evaluation.benchmark)
    scored: dict  # split -> (labels, raw probabilities, calibrated probabilities), for the plots
    seconds: float = 0.0


def load_for_training(data: str, config: GenreConfig, columns: ColumnNames | None, options: TrainOptions, log=print):
    """(movies, load report, options with the input chosen): the data loaded and checked for training."""
    movies_count = Source.of(data).count() if options.input == "auto" else None  # read only to choose
    input = choose_input(options.input, movies_count, estimated_bytes_per_movie(config), log)
    movies, load_report = load_movies(data, columns=columns, split=SplitSpec.from_config(config), streaming=input == "stream")
    log(str(load_report))
    for split in ("train", "validation"):
        if split not in movies or (not load_report.streamed and len(movies[split]) == 0):
            raise ValueError(f"the data has no usable {split} movies; see the report above")
    return movies, load_report, dataclasses.replace(options, input=input)


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
    classifier = GenreClassifier(run.config, run.prepared.tokenizer.vocabulary, network=(run.whole, run.models))
    classifier.calibration = fit_calibration(run, model_probabilities(classifier, run.validation))
    if baselines is None:
        log("Fitting the baselines")
        embed = getattr(run.prepared.encoders["overview"], "sentence_embeddings", None)
        baselines = Baselines(run.config.genres, run.config.threshold_prior_strength, embed).fit(run.train.texts(), run.validation.texts())
    reports, scored = {}, {}
    for split, features in run.prepared.splits.items():
        if split != "train":
            reports[split], raw, calibrated = benchmark(classifier, features, features.texts()["overview"], baselines, split)
            scored[split] = (features.labels, raw, calibrated)
    return Scored(run, classifier, baselines, reports, scored, time.perf_counter() - started)


def headline_split(reports: dict) -> str:
    """The split a run is judged on: test when the data has one, else validation (which was tuned on)."""
    return "test" if "test" in reports else "validation"


def run_timing(scored: Scored, seed: int) -> dict:
    run = scored.run
    return {"seed": seed, "seconds": round(scored.seconds, 1), "prepare_seconds": round(run.prepared.seconds, 1),
            "fit_seconds": {name: round(fit.seconds, 1) for name, fit in run.fits.items()}}


def train_and_save(
    data: str,
    out: str | Path,
    config: GenreConfig | None = None,
    columns: ColumnNames | None = None,
    log=print,
    options: TrainOptions | None = None,
) -> GenreClassifier | None:
    """Train, calibrate, benchmark and save; returns the `GenreClassifier`, or None on a worker of a
    multi-worker run that is not the chief (the chief alone writes the model folder).

    `options` (`training.TrainOptions`) say where features live (in memory or an on-disk cache)
    and which `tf.distribute` strategy trains.
    """
    started = time.perf_counter()
    options = options or TrainOptions()
    distribution = make_distribution(options.strategy, options.cpu_devices, log)  # before anything else starts TensorFlow
    config = config or GenreConfig()
    out = Path(out)
    movies, load_report, options = load_for_training(data, config, columns, options, log)
    fingerprint = Source.of(data).fingerprint(columns)
    scored = train_and_score(config, movies, log=log, options=options, distribution=distribution, source=fingerprint, report=load_report)
    if scored is None:
        log(f"Training done; this worker is not the chief, which writes the model folder to {out}")
        return None
    run, classifier, reports = scored.run, scored.classifier, scored.reports
    for report in reports.values():
        log(f"\n{to_markdown(report)}")

    with tempfile.TemporaryDirectory() as reports_dir:
        reports_dir = Path(reports_dir)
        training = training_report(run, reports, load_report.to_dict(), data, time.perf_counter() - started, fingerprint)
        (reports_dir / TRAINING_JSON).write_text(json.dumps(training, indent=2) + "\n")
        (reports_dir / BENCHMARK_JSON).write_text(json.dumps(reports, indent=2) + "\n")
        (reports_dir / BENCHMARK_MD).write_text("\n".join(to_markdown(report) for report in reports.values()))
        split = headline_split(reports)
        metrics, per_genre = results.summarize([reports[split]])
        results.write(results.build(
            "train", split=split, used_in_training=split != "test", seeds=[run.config.seed],
            data=results.data_facts(data, run.prepared.splits, load_report.to_dict(), fingerprint), config=run.config,
            titles=reports[split]["titles"], metrics=metrics, per_genre=per_genre,
            timing={"total_seconds": training["seconds"], "runs": [run_timing(scored, run.config.seed)]},
        ), reports_dir / results.RESULTS_FILE)
        write_plots(reports_dir, run, reports, scored.scored, log)
        classifier.files_dir = reports_dir
        classifier.save_pretrained(out)
    classifier.files_dir = out
    if training["data_kind"] == COURSEWORK["data_kind"]:  # the coursework's own data
        log(coursework_table(training))
    log(f"\nSaved the model folder to {out} ({time.perf_counter() - started:.0f} s in all)")
    return classifier


def push(classifier: GenreClassifier, repo_id: str, private: bool, log=print) -> str | None:
    """Upload the saved folder; a failure leaves it intact and says why."""
    try:
        url = classifier.push_to_hub(repo_id, private=private, commit_message="Upload genre_hf model")
    except Exception as error:  # network, auth, quota: all leave the local folder as it is
        log(f"Push to {repo_id} failed: {type(error).__name__}: {error}")
        log(f"The model folder {classifier.files_dir} is intact; push it later with `genre-hf push --model {classifier.files_dir} --repo {repo_id}`.")
        return None
    log(f"Pushed to {repo_id}: {url}")
    return str(url)


def training_report(run: TrainingRun, reports: dict, load_report: dict, data: str, seconds: float, fingerprint: dict | None = None) -> dict:
    """The coursework's table (best validation loss, precision and recall at 0.5) and more."""
    import keras
    import tensorflow as tf

    import genre_hf

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
        "data": str(data),
        "data_name": Source.of(data).name,
        "data_kind": Source.of(data).kind,
        "data_revision": (fingerprint or {}).get("revision"),
        "load_report": load_report,
        "movies": {split: len(features) for split, features in run.prepared.splits.items()},
        "train_genre_counts": {genre: int(n) for genre, n in zip(run.config.genres, run.train.labels.sum(axis=0))},
        "titles": reports["validation"]["titles"],
        "seconds": round(seconds, 1),
        "prepare_seconds": round(run.prepared.seconds, 1),
        "input": run.prepared.input,
        "image_size": run.config.image_size,
        "distribution": {**run.distribution.describe(), "batch_size_per_replica": run.config.batch_size,
                         "global_batch_size": run.distribution.global_batch(run.config.batch_size)},
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


def write_plots(out: Path, run: TrainingRun, reports: dict, scored: dict, log=print) -> None:
    """Training curves, and PR curves, per-genre F1 and reliability of the test split (else validation)."""
    try:
        from genre_hf.evaluation import plots
    except ImportError:
        log("Plots skipped: matplotlib is not installed (pip install 'genre_hf[plots]')")
        return
    split = "test" if "test" in reports else "validation"
    labels, raw, calibrated = scored[split]
    titles = reports[split]["titles"]
    plots.training_curves({n: f.history for n, f in run.fits.items()}, {n: f.best_epoch for n, f in run.fits.items()}, titles, out / "training_curves.png")
    plots.precision_recall_curves(calibrated, labels, titles, out / "pr_curves.png")
    plots.per_genre_f1(reports[split], out / "per_genre_f1.png")
    models = list(run.models)
    plots.reliability_diagram({n: raw[n] for n in models}, {n: calibrated[n] for n in models}, labels, titles, out / "reliability.png")


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

