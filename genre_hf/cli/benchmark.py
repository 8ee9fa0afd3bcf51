"""`genre-hf benchmark`: every model and baseline trained with several seeds; mean ± std on the test split."""

from __future__ import annotations

from genre_hf.cli._common import HUB_ENVIRONMENT, add_input_arguments, add_training_arguments, check_data, training_config
from genre_hf.data.cleaning import ColumnNames

NAME = "benchmark"
TENSORFLOW = True
HELP = "train every model and the baselines with several seeds; mean ± std on the test split"
DESCRIPTION = ("Train every model and the baselines with several seeds and score them on the test split: each "
               "metric's mean ± std over the seeds (a lead within the spread is a tie), per-genre tables, plots "
               "and results.json in --out. No model folder is saved.")
ENVIRONMENT = ("GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME") + HUB_ENVIRONMENT
DEFAULT_OUT = "artifacts/benchmark"


def add_arguments(parser) -> None:
    add_training_arguments(parser, "folder for results.json, benchmark.md and the plots", DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (at least 2; default 3)")
    parser.add_argument("--first-seed", type=int, default=None, help="the first seed; the others follow it (default: the config's, 42)")
    parser.add_argument("--push-results", metavar="REPO_ID", default=None,
                        help="add the models' mean figures to this Hub model repo card's model-index")
    add_input_arguments(parser)


def check(args) -> None:
    from genre_hf.evaluation.files import check_benchmark_folder

    check_benchmark_folder(args.out, args.data)  # before hours of training: a file, someone else's folder, the data itself
    check_data(args.data)
    if args.seeds < 2:
        raise ValueError(f"a benchmark needs at least 2 seeds to measure a spread, not {args.seeds}")
    training_config(args, args.first_seed)


def run(args) -> int:
    from genre_hf.evaluation.benchmark import run_benchmark
    from genre_hf.training.trainer import TrainOptions

    found = run_benchmark(args.data, args.out, seeds=args.seeds, config=training_config(args, args.first_seed),
                          columns=ColumnNames.parse(args.columns), options=TrainOptions(input=args.input, cache_dir=args.cache_dir))
    if args.push_results:
        from genre_hf.hub.card import push_results

        print(f"Added the results to the model-index of {args.push_results}: {push_results(found, args.push_results)}")
    return 0
