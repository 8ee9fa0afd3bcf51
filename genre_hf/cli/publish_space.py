"""`genre-hf publish-space`: publish the app as a Hugging Face Space serving model repos."""

from __future__ import annotations

from genre_hf.cli._common import HUB_ENVIRONMENT

NAME = "publish-space"
TENSORFLOW = False
HELP = "publish the app as a Hugging Face Space serving a model repo"
ENVIRONMENT = ("HF_TOKEN", "HF_ENDPOINT") + HUB_ENVIRONMENT


def add_arguments(parser) -> None:
    parser.add_argument("--space-id", required=True, help="the Space to create or update, e.g. user/imdb-genres-demo")
    parser.add_argument("--model-repo", required=True, action="append",
                        help="the model repo the Space serves, e.g. user/imdb-genres; repeat it for each model family")
    parser.add_argument("--private", action="store_true", help="create the Space private")


def check(args) -> None:
    from genre_hf.extras import require

    require("gradio", "genre-hf publish-space")  # the Space is pinned to the gradio version installed here


def run(args) -> int:
    from genre_hf.app.publish import publish_space

    print(publish_space(args.space_id, args.model_repo, private=args.private))
    return 0
