"""`train_and_save`: the whole training pipeline, and the library's twin of `genre-hf train`.

Load the data, train and calibrate the three models (`training/`), score them and the baselines
(`evaluation/`), write the reports and save the model folder (`hub/`), and return the
`GenreClassifier` (`inference/`): the one place where every layer below meets, so it sits above
them all, beside the app and under the command line. Everything goes into one model folder that the
Hub can take as is; the folder appears only once it is complete.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from genre_hf import reading
from genre_hf.config import GenreConfig
from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.sources import Source
from genre_hf.evaluation import plots, results
from genre_hf.evaluation.experiment import coursework_table, run_timing, train_and_score, training_report
from genre_hf.evaluation.published import COURSEWORK
from genre_hf.evaluation.scoring import headline_split, report_markdown
from genre_hf.hub.folder import BENCHMARK_JSON, BENCHMARK_MD, PLOT_FILES, RESULTS_FILE, TRAINING_JSON, check_destination
from genre_hf.inference.classifier import GenreClassifier
from genre_hf.training.distribute import make_distribution
from genre_hf.training.prepare import load_training_data
from genre_hf.training.trainer import TrainOptions


def train_and_save(data: str, out: str | Path, config: GenreConfig | None = None, columns: ColumnNames | None = None, log=print,
                   options: TrainOptions | None = None):
    """Train, calibrate, score and save (`genre-hf train` from Python); returns the `GenreClassifier`,
    or None on a worker of a multi-worker run that is not the chief (the chief alone writes the model folder).

    `options` (`TrainOptions`) say where features live (in memory or an on-disk
    cache) and which `tf.distribute` strategy trains.
    """
    check_destination(out, [data])  # before hours of training (the command line checked it already)
    started = time.perf_counter()
    options = options or TrainOptions()
    distribution = make_distribution(options.strategy, options.cpu_devices, log, options.peer_timeout)  # before anything else starts TensorFlow
    config, out, source = config or GenreConfig(), Path(out), Source.of(data)
    movies, load_report, input = load_training_data(source, config, columns, options.input, log)
    fingerprint = source.fingerprint(columns)
    scored = train_and_score(config, movies, log=log, options=dataclasses.replace(options, input=input), distribution=distribution,
                             source=fingerprint, report=load_report)
    if scored is None:
        log(f"Training done; this worker is not the chief, which writes the model folder to {out}")
        return None
    with tempfile.TemporaryDirectory() as reports_dir:
        training = write_reports(Path(reports_dir), scored, load_report, source, fingerprint, time.perf_counter() - started, log)
        classifier = GenreClassifier.from_run(scored.run, files_dir=reports_dir)
        classifier.save_pretrained(out)
    classifier.files_dir = out
    if training["data_kind"] == COURSEWORK["data_kind"]:  # the coursework's own data
        log(coursework_table(training))
    log(f"\nSaved the model folder to {out} ({time.perf_counter() - started:.0f} s in all)")
    return classifier


def write_reports(folder: Path, scored, load_report, source: Source, fingerprint: dict, seconds: float, log=print) -> dict:
    """A run's reports into `folder`, as a model folder keeps them (`hub.folder.REPORT_FILES`):
    the training record, the benchmark of every scored split, the results file and the plots.
    Returns the training record."""
    run, reports = scored.run, scored.reports
    for report in reports.values():
        log(f"\n{report_markdown(report)}")
    training = training_report(scored, load_report.to_dict(), source, seconds, fingerprint)
    (folder / TRAINING_JSON).write_text(reading.json_text(training))
    (folder / BENCHMARK_JSON).write_text(reading.json_text(reports))
    (folder / BENCHMARK_MD).write_text("\n".join(report_markdown(report) for report in reports.values()))
    split = headline_split(reports)
    metrics, per_genre = results.summarize([reports[split]])
    results.write(results.build(
        "train", split=split, used_in_training=split != "test", seeds=[run.config.training.seed],
        data=results.data_facts(source, run.prepared.splits, load_report.to_dict(), fingerprint), config=run.config,
        titles=reports[split]["titles"], metrics=metrics, per_genre=per_genre,
        timing={"total_seconds": training["seconds"], "runs": [run_timing(scored, run.config.training.seed)]},
    ), folder / RESULTS_FILE)
    if not plots.available():
        log(plots.SKIPPED)
        return training
    plots.training_curves({n: f.history for n, f in run.fits.items()}, {n: f.best_epoch for n, f in run.fits.items()}, reports[split]["titles"],
                          folder / PLOT_FILES["training"])
    labels, raw, calibrated = scored.scored[split]
    plots.split_plots(folder, reports[split], labels, raw, calibrated)
    return training
