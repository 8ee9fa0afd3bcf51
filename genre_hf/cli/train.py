"""`genre-hf train`: load, train, calibrate, score, save the model folder (`pipeline.train_and_save`), and push it."""

from __future__ import annotations

from genre_hf.cli._common import HUB_ENVIRONMENT, add_input_arguments, add_training_arguments, check_data, training_config
from genre_hf.data.cleaning import ColumnNames
from genre_hf.training.distribute import PEER_TIMEOUT

NAME = "train"
TENSORFLOW = True
HELP = "train the three models and save (and optionally push) the model folder"
ENVIRONMENT = ("GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "TF_CONFIG", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME") + HUB_ENVIRONMENT
DEFAULT_OUT = "artifacts/model"


def add_arguments(parser) -> None:
    add_training_arguments(parser, "model folder to write", DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=None)
    add_input_arguments(parser)
    parser.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                        help="tf.distribute: mirrored = every local GPU; multiworker = one process per machine, cluster in "
                             "$TF_CONFIG (see docs/scaling.md)")
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
    from genre_hf.pipeline import train_and_save

    classifier = train_and_save(args.data, args.out, config=training_config(args, args.seed), columns=ColumnNames.parse(args.columns),
                                options=options)
    if classifier is not None and args.push_to_hub:  # a multi-worker run's other workers (None): the chief saves and pushes
        push_or_fail(classifier, args.push_to_hub, args.private)
    return 0


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
