"""`genre-hf app`: serve the Gradio page on this machine (the only command that imports gradio)."""

from __future__ import annotations

import os

from genre_hf.cli._common import HUB_ENVIRONMENT
from genre_hf.hub.lookup import RULE

NAME = "app"
TENSORFLOW = False  # the models answer on LiteRT; TensorFlow starts only for Grad-CAM (explain)
HELP = "serve the Gradio app on this machine"
DESCRIPTION = "Serve the Gradio app. " + RULE
ENVIRONMENT = ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_PRESET_MIRROR", "PORT", "GRADIO_SERVER_NAME", "GENRE_HF_TRUSTED_PROXIES",
               "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE") + HUB_ENVIRONMENT


def add_arguments(parser) -> None:
    parser.add_argument("--model", action="append", default=None,
                        help="Hub repo id or folder; repeat it to let visitors switch between model families")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860))


def check(args) -> None:
    from genre_hf.cli._common import check_local_model
    from genre_hf.extras import require
    from genre_hf.hub.lookup import model_sources

    require("gradio", "genre-hf app")
    from genre_hf.app.guard import trusted_proxies
    from genre_hf.app.serve import check_port

    trusted_proxies()  # a bad GENRE_HF_TRUSTED_PROXIES is said before the model loads
    check_port(args.host, args.port)
    for source in args.model or model_sources():
        check_local_model(source)


def run(args) -> int:
    from genre_hf.app.serve import serve

    serve(args.host, args.port, model_ids=args.model, examples_dir=os.environ.get("GENRE_HF_DATA"))
    return 0
