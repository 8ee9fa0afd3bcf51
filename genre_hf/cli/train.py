"""`genre-hf train`: load, train, calibrate, score, save the model folder (and push it).

Everything is written into one model folder that the Hub can take as is; the folder appears only
once it is complete. `train_and_save` is the same from Python.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from genre_hf.cli._common import add_input_arguments, add_training_arguments, check_data, training_config
from genre_hf.config import GenreConfig
from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.sources import Source
from genre_hf.training.distribute import PEER_TIMEOUT

NAME, ORDER = "train", 1
TENSORFLOW = True
HELP = "train the three models and save (and optionally push) the model folder"
ENVIRONMENT = ("GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "TF_CONFIG", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME")
DEFAULT_OUT = "artifacts/model"


def add_arguments(parser) -> None:
    add_training_arguments(parser, "model folder to write", DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=None)
    add_input_arguments(parser)
    parser.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                        help="tf.distribute: mirrored = every local GPU; multiworker = one process per machine, cluster in "
                             "$TF_CONFIG (see README, Scaling)")
    parser.add_argument("--cpu-devices", type=int, default=0, metavar="N",
                        help="with --strategy mirrored and no GPU: split the CPU into N logical devices (for testing)")
    parser.add_argument("--peer-timeout", type=float, default=PEER_TIMEOUT, metavar="SECONDS",
                        help=f"with --strategy multiworker: how long to wait for the other workers to come up (default {PEER_TIMEOUT:g})")
    parser.add_argument("--no-lr-scaling", action="store_true",
                        help="keep the configured learning rate under a strategy (default: x the number of replicas)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="upload the model folder to this Hub repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def check(args) -> None:
    from genre_hf.hub.folder import check_destination

    check_destination(args.out, [args.data])  # before hours of training: a file, someone else's folder, the data, no permission
    check_data(args.data)
    from genre_hf.training.distribute import check_settings

    training_config(args, args.seed)
    check_settings(args.strategy, args.cpu_devices, args.peer_timeout)


def run(args) -> int:
    from genre_hf.training.trainer import TrainOptions

    options = TrainOptions(input=args.input, cache_dir=args.cache_dir, strategy=args.strategy, cpu_devices=args.cpu_devices,
                           peer_timeout=args.peer_timeout, scale_learning_rate=not args.no_lr_scaling)
    classifier = train_and_save(args.data, args.out, config=training_config(args, args.seed), columns=ColumnNames.parse(args.columns),
                                options=options)
    if classifier is not None and args.push_to_hub:  # a multi-worker run's other workers (None): the chief saves and pushes
        push_or_fail(classifier, args.push_to_hub, args.private)
    return 0


def train_and_save(data: str, out: str | Path, config: GenreConfig | None = None, columns: ColumnNames | None = None, log=print,
                   options=None):
    """Train, calibrate, score and save; returns the `GenreClassifier`, or None on a worker of a
    multi-worker run that is not the chief (the chief alone writes the model folder).

    `options` (`training.trainer.TrainOptions`) say where features live (in memory or an on-disk
    cache) and which `tf.distribute` strategy trains.
    """
    import dataclasses

    from genre_hf.evaluation.experiment import coursework_table, train_and_score
    from genre_hf.evaluation.published import COURSEWORK
    from genre_hf.hub.folder import check_destination
    from genre_hf.inference.classifier import GenreClassifier
    from genre_hf.training.distribute import make_distribution
    from genre_hf.training.prepare import load_training_data
    from genre_hf.training.trainer import TrainOptions

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
    from genre_hf.evaluation import plots, results
    from genre_hf.evaluation.experiment import run_timing, training_report
    from genre_hf.evaluation.scoring import headline_split, report_markdown
    from genre_hf.hub.folder import BENCHMARK_JSON, BENCHMARK_MD, PLOT_FILES, RESULTS_FILE, TRAINING_JSON

    run, reports = scored.run, scored.reports
    for report in reports.values():
        log(f"\n{report_markdown(report)}")
    training = training_report(scored, load_report.to_dict(), source, seconds, fingerprint)
    (folder / TRAINING_JSON).write_text(json.dumps(training, indent=2) + "\n")
    (folder / BENCHMARK_JSON).write_text(json.dumps(reports, indent=2) + "\n")
    (folder / BENCHMARK_MD).write_text("\n".join(report_markdown(report) for report in reports.values()))
    split = headline_split(reports)
    metrics, per_genre = results.summarize([reports[split]])
    results.write(results.build(
        "train", split=split, used_in_training=split != "test", seeds=[run.config.seed],
        data=results.data_facts(source, run.prepared.splits, load_report.to_dict(), fingerprint), config=run.config,
        titles=reports[split]["titles"], metrics=metrics, per_genre=per_genre,
        timing={"total_seconds": training["seconds"], "runs": [run_timing(scored, run.config.seed)]},
    ), folder / RESULTS_FILE)
    if not plots.available():
        log(plots.SKIPPED)
        return training
    plots.training_curves({n: f.history for n, f in run.fits.items()}, {n: f.best_epoch for n, f in run.fits.items()}, reports[split]["titles"],
                          folder / PLOT_FILES["training"])
    labels, raw, calibrated = scored.scored[split]
    plots.split_plots(folder, reports[split], labels, raw, calibrated)
    return training


def push_or_fail(classifier, repo_id: str, private: bool) -> None:
    """`push` for the command line: a failure is a CommandError (one line, exit status 2)."""
    from genre_hf.cli._errors import CommandError

    said = []
    if push(classifier, repo_id, private, log=said.append) is None:
        raise CommandError(" ".join(said))
    print(said[-1])


def push(classifier, repo_id: str, private: bool, log=print) -> str | None:
    """Upload the saved folder; a failure leaves it intact and says why."""
    try:
        url = classifier.push_to_hub(repo_id, private=private, commit_message="Upload genre_hf model")
    except Exception as error:  # network, auth, quota: all leave the local folder as it is
        from genre_hf.cli._errors import one_line

        log(f"Push to {repo_id} failed: {type(error).__name__}: {one_line(error)}.")
        log(f"The model folder {classifier.files_dir} is intact; push it later with `genre-hf push --model {classifier.files_dir} --repo {repo_id}`.")
        return None
    log(f"Pushed to {repo_id}: {url}")
    return str(url)
