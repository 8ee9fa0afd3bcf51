"""`genre-hf push`: upload a saved model folder to a Hub model repo."""

from __future__ import annotations

from genre_hf.cli._common import HUB_ENVIRONMENT

NAME = "push"
TENSORFLOW = True
HELP = "upload a saved model folder to a Hub model repo"
ENVIRONMENT = ("HF_TOKEN", "HF_ENDPOINT") + HUB_ENVIRONMENT
DEFAULT_MODEL = "artifacts/model"


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"the model folder (default: {DEFAULT_MODEL})")
    parser.add_argument("--repo", required=True, help="the Hub repo id, e.g. user/imdb-genres")
    parser.add_argument("--private", action="store_true", help="create the repo as private")


def check(args) -> None:
    from genre_hf.cli._common import check_local_model

    check_local_model(args.model)


def run(args) -> int:
    from genre_hf.cli.train import push_or_fail
    from genre_hf.inference.classifier import GenreClassifier

    push_or_fail(GenreClassifier.from_pretrained(args.model), args.repo, args.private)
    return 0
