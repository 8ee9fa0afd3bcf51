"""`genre-hf`: the one command line. train | benchmark | evaluate | predict | push | app | publish-space.

Parsing imports nothing heavy, so `--help` is instant; each command imports what it needs. Errors
that a user can fix (bad data, a bad model folder, a busy port, a refused push) end in one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from genre_hf.config import FAMILIES

DEFAULT_OUT = "artifacts/model"
DEFAULT_BENCHMARK_OUT = "artifacts/benchmark"
ENVIRONMENT = {  # name -> (what it does, its default)
    "GENRE_HF_MODEL": ("the model (Hub repo id or folder) when --model is not given; for `app`, one per family, comma-separated", "see above"),
    "GENRE_HF_DATA": ("the data when --data is not given; for `app`, a folder whose test movies become examples", "unset"),
    "HF_TOKEN": ("Hub token for private repos and for pushing", "the token saved by `hf auth login`"),
    "HF_ENDPOINT": ("the Hub's address", "https://huggingface.co"),
    "HF_HOME": ("where the Hub cache lives", "~/.cache/huggingface"),
    "HF_HUB_OFFLINE": ("1: use only what is in the Hub cache", "0"),
    "PORT": ("the app's port (GRADIO_SERVER_PORT too)", "7860"),
    "GRADIO_SERVER_NAME": ("the app's address (a Space sets 0.0.0.0)", "127.0.0.1"),
    "TF_CPP_MIN_LOG_LEVEL": ("TensorFlow's C++ log level", "3: its logs hidden (Python errors still show)"),
    "GENRE_HF_CACHE": ("where feature caches live when --cache-dir is not given", "$HF_HOME/genre_hf"),
    "GENRE_HF_PRESET_MIRROR": ("a folder with local copies (<name>/) of hf:// encoder presets, used instead of the Hub", "unset"),
    "TF_CONFIG": ("--strategy multiworker: the cluster's workers and this process's task (JSON)", "unset"),
}
COMMAND_ENVIRONMENT = {
    "train": ("GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "TF_CONFIG", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "TF_CPP_MIN_LOG_LEVEL"),
    "benchmark": ("GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "TF_CPP_MIN_LOG_LEVEL"),
    "evaluate": ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE",
                 "TF_CPP_MIN_LOG_LEVEL"),
    "predict": ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE", "TF_CPP_MIN_LOG_LEVEL"),
    "push": ("HF_TOKEN", "HF_ENDPOINT", "TF_CPP_MIN_LOG_LEVEL"),
    "app": ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_PRESET_MIRROR", "PORT", "GRADIO_SERVER_NAME", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE"),
    "publish-space": ("HF_TOKEN", "HF_ENDPOINT"),
}
MODEL_LOOKUP = (
    "The model: --model, else $GENRE_HF_MODEL, else space_config.json in the working directory (a published "
    "Space), else ./artifacts/model (and, for the app, ./artifacts/model-pretrained), else the Hub repo "
    "genre-hf/imdb-genres."
)


def environment_help(command: str) -> str:
    lines = ["environment variables read (default):"]
    for name in COMMAND_ENVIRONMENT[command]:
        meaning, default = ENVIRONMENT[name]
        lines.append(f"  {name:<22} {meaning} ({default})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genre-hf", description="Movie genres from a poster and a plot overview.")
    parser.add_argument("--version", action="version", version=f"genre_hf {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=description or help, epilog=environment_help(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    train = command("train", "train the three models and save (and optionally push) the model folder")
    add_training_arguments(train, "model folder to write", DEFAULT_OUT)
    train.add_argument("--seed", type=int, default=None)
    add_input_arguments(train)
    train.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                       help="tf.distribute: mirrored = every local GPU; multiworker = one process per machine, cluster in "
                            "$TF_CONFIG (see README, Scaling)")
    train.add_argument("--cpu-devices", type=int, default=0, metavar="N",
                       help="with --strategy mirrored and no GPU: split the CPU into N logical devices (for testing)")
    train.add_argument("--no-lr-scaling", action="store_true",
                       help="keep the configured learning rate under a strategy (default: x the number of replicas)")
    train.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="upload the model folder to this Hub repo")
    train.add_argument("--private", action="store_true", help="create the Hub repo as private")

    benchmark = command("benchmark", "train every model and the baselines with several seeds; mean ± std on the test split",
                        "Train every model and the baselines with several seeds and score them on the test split: each "
                        "metric's mean ± std over the seeds (a lead within the spread is a tie), per-genre tables, plots "
                        "and results.json in --out. No model folder is saved.")
    add_training_arguments(benchmark, "folder for results.json, benchmark.md and the plots", DEFAULT_BENCHMARK_OUT)
    benchmark.add_argument("--seeds", type=int, default=3, help="how many seeds (at least 2; default 3)")
    benchmark.add_argument("--first-seed", type=int, default=None, help="the first seed; the others follow it (default: the config's, 42)")
    benchmark.add_argument("--push-results", metavar="REPO_ID", default=None,
                           help="add the models' mean figures to this Hub model repo card's model-index")
    add_input_arguments(benchmark)

    evaluate = command("evaluate", "score a model on any data (held out: nothing is tuned)", "Score a model on any data. " + MODEL_LOOKUP)
    evaluate.add_argument("--model", default=None, help="Hub repo id or folder (see above)")
    evaluate.add_argument("--data", default=os.environ.get("GENRE_HF_DATA"), required="GENRE_HF_DATA" not in os.environ,
                          help="upstream folder, Parquet file, save_to_disk folder or Hub dataset id")
    evaluate.add_argument("--split", default=None,
                          help="score one split (test: never trained or tuned on); default: every row, training rows included")
    evaluate.add_argument("--columns", default=None, help="column mapping, e.g. overview=plot,poster=image")
    evaluate.add_argument("--output", default=None, help="write the JSON report here (and a .md beside it)")
    evaluate.add_argument("--baselines-from", default=None, help="training data: fit the baselines on its train split")
    evaluate.add_argument("--plots", default=None, help="write PR curves, per-genre F1 and reliability PNGs here")
    evaluate.add_argument("--push-results", metavar="REPO_ID", default=None,
                          help="add the models' figures to this Hub model repo card's model-index (needs a token with write access)")
    add_input_arguments(evaluate)

    predict = command("predict", "predict every movie of a data source into a Parquet, CSV or JSON Lines file",
                      "Predict every movie of a data source into a file (by extension: .parquet, .csv, .jsonl). " + MODEL_LOOKUP)
    predict.add_argument("--model", default=None, help="Hub repo id or folder (see above)")
    predict.add_argument("--data", default=os.environ.get("GENRE_HF_DATA"), required="GENRE_HF_DATA" not in os.environ,
                         help="upstream folder, Parquet file, save_to_disk folder or Hub dataset id (streamed)")
    predict.add_argument("--output", required=True, help="the file to write: .parquet, .csv or .jsonl")
    predict.add_argument("--split", default=None, help="predict one split only; default: every row")
    predict.add_argument("--columns", default=None, help="column mapping, e.g. id=movie_id,overview=plot,poster=image")
    predict.add_argument("--chunk-size", type=int, default=256, help="movies read and predicted at a time (bounds memory)")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")

    push = command("push", "upload a saved model folder to a Hub model repo")
    push.add_argument("--model", default=DEFAULT_OUT, help=f"the model folder (default: {DEFAULT_OUT})")
    push.add_argument("--repo", required=True, help="the Hub repo id, e.g. user/imdb-genres")
    push.add_argument("--private", action="store_true", help="create the repo as private")

    app = command("app", "serve the Gradio app on this machine", "Serve the Gradio app. " + MODEL_LOOKUP)
    app.add_argument("--model", action="append", default=None,
                     help="Hub repo id or folder; repeat it to let visitors switch between model families")
    app.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    app.add_argument("--port", type=int, default=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860))

    publish = command("publish-space", "publish the app as a Hugging Face Space serving a model repo")
    publish.add_argument("--space-id", required=True, help="the Space to create or update, e.g. user/imdb-genres-demo")
    publish.add_argument("--model-repo", required=True, action="append",
                         help="the model repo the Space serves, e.g. user/imdb-genres; repeat it for each model family")
    publish.add_argument("--private", action="store_true", help="create the Space private")
    return parser


def add_training_arguments(parser: argparse.ArgumentParser, out_help: str, out_default: str) -> None:
    """What `train` and `benchmark` share: the data, the output folder and the settings that change what is learned."""
    parser.add_argument("--data", default=os.environ.get("GENRE_HF_DATA"), required="GENRE_HF_DATA" not in os.environ,
                        help="upstream folder, MM-IMDb folder, Parquet file, save_to_disk folder or Hub dataset id (default: $GENRE_HF_DATA)")
    parser.add_argument("--out", default=out_default, help=f"{out_help} (default: {out_default})")
    parser.add_argument("--family", choices=tuple(FAMILIES), default="scratch",
                        help="scratch: poster CNN + overview LSTM; pretrained: poster CNN + a pretrained KerasHub text encoder")
    parser.add_argument("--columns", default=None, help="column mapping for non-upstream data, e.g. overview=plot,poster=image")
    parser.add_argument("--loss", choices=("bce", "weighted_bce", "focal"), default=None, help="training objective (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="cap every model's epochs (quick runs)")
    parser.add_argument("--image-size", type=int, choices=(64, 128, 224), default=None,
                        help="poster size in pixels, saved with the model (default: the config's, 64)")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", choices=("auto", "memory", "stream"), default="auto",
                        help="features in memory, or streamed from an on-disk cache built once (default auto: in memory "
                             "under 1 GB of features)")
    parser.add_argument("--cache-dir", default=None, help="where feature caches live (default: $GENRE_HF_CACHE, else $HF_HOME/genre_hf)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before TensorFlow, Gradio or huggingface_hub are imported: quiet logs, no analytics or telemetry.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the full TensorFlow package logs CUDA probing errors on CPUs
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return RUN[args.command](args) or 0
    except (ValueError, OSError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _model(args) -> str:
    from genre_hf.app.page import model_sources

    return args.model or model_sources()[0]


def training_config(args, seed: int | None):
    """The config `train` and `benchmark` start from: the family's encoders and the options given."""
    import dataclasses

    from genre_hf.config import GenreConfig

    config = GenreConfig.for_family(args.family)
    if args.image_size:
        config = dataclasses.replace(config, image_size=args.image_size)
    if args.loss:
        config = dataclasses.replace(config, loss=args.loss)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, not {args.epochs}")
        config = dataclasses.replace(config, **{f"epochs_{m}": min(config.epochs(m), args.epochs) for m in ("poster", "overview", "fusion")})
    return config


def run_train(args) -> int:
    from genre_hf.cli.train import push, train_and_save
    from genre_hf.data.cleaning import ColumnNames
    from genre_hf.training.trainer import TrainOptions

    config = training_config(args, args.seed)
    options = TrainOptions(input=args.input, cache_dir=args.cache_dir, strategy=args.strategy, cpu_devices=args.cpu_devices,
                           scale_learning_rate=not args.no_lr_scaling)
    classifier = train_and_save(args.data, args.out, config=config, columns=ColumnNames.parse(args.columns), options=options)
    if classifier is None:  # a multi-worker run's other workers: the chief saves (and pushes)
        return 0
    if args.push_to_hub and not push(classifier, args.push_to_hub, args.private):
        return 1
    return 0


def run_benchmark(args) -> int:
    if args.seeds < 2:  # before TensorFlow is imported: a one-line answer
        raise ValueError(f"a benchmark needs at least 2 seeds to measure a spread, not {args.seeds}")
    from genre_hf.data.cleaning import ColumnNames
    from genre_hf.evaluation.seeds import run_benchmark as benchmark
    from genre_hf.training.trainer import TrainOptions

    config = training_config(args, args.first_seed)
    found = benchmark(args.data, args.out, seeds=args.seeds, config=config, columns=ColumnNames.parse(args.columns),
                      options=TrainOptions(input=args.input, cache_dir=args.cache_dir))
    if args.push_results:
        from genre_hf.hub.card import push_results

        print(f"Added the results to the model-index of {args.push_results}: {push_results(found, args.push_results)}")
    return 0


def run_evaluate(args) -> int:
    from genre_hf.data.cleaning import ColumnNames
    from genre_hf.evaluation.heldout import evaluate

    evaluate(_model(args), args.data, split=args.split, columns=ColumnNames.parse(args.columns), output=args.output,
             baselines_from=args.baselines_from, plots_dir=args.plots, input=args.input, cache_dir=args.cache_dir,
             push_results=args.push_results)
    return 0


def run_predict(args) -> int:
    from genre_hf.data.cleaning import ColumnNames
    from genre_hf.inference.batch import predict_file
    from genre_hf.inference.classifier import GenreClassifier

    source = _model(args)
    print(f"Loading the model from {source}", file=sys.stderr)
    classifier = GenreClassifier.from_pretrained(source)
    report = predict_file(classifier, args.data, args.output, columns=ColumnNames.parse(args.columns), split=args.split,
                          chunk_size=args.chunk_size, progress=not args.no_progress)
    print(report, file=sys.stderr)
    print(f"Wrote {args.output}", file=sys.stderr)
    return 0


def run_push(args) -> int:
    from genre_hf.cli.train import push
    from genre_hf.inference.classifier import GenreClassifier

    return 0 if push(GenreClassifier.from_pretrained(args.model), args.repo, args.private) else 1


def run_app(args) -> int:
    from genre_hf.app.page import serve

    serve(args.host, args.port, sources=args.model, examples_dir=os.environ.get("GENRE_HF_DATA"))
    return 0


def run_publish_space(args) -> int:
    from genre_hf.app.publish import publish_space

    print(publish_space(args.space_id, args.model_repo, private=args.private))
    return 0


RUN = {"train": run_train, "benchmark": run_benchmark, "evaluate": run_evaluate, "predict": run_predict, "push": run_push, "app": run_app,
       "publish-space": run_publish_space}


def _version() -> str:
    from genre_hf import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
