"""`genre-hf app`: pick the models, check the port, load each model once, serve the page."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import tempfile

import gradio as gr

from genre_hf.app.guard import MAX_FILE_SIZE, SESSIONS, UploadLimits
from genre_hf.app.labels import family_label
from genre_hf.app.page import CSS, KEYS, build_demo
from genre_hf.hub.lookup import model_sources
from genre_hf.inference.classifier import GenreClassifier


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **options):
    """Serve `demo`: errors shown as messages, requests and uploads capped (each, and per client and
    overall), sessions kept bounded (see guard.py), no share link; the page's CSS and keys."""
    from starlette.middleware import Middleware

    return demo.launch(
        server_name=host, server_port=port, show_error=True, max_file_size=MAX_FILE_SIZE, share=False,
        app_kwargs={"middleware": [Middleware(UploadLimits)]}, state_session_capacity=SESSIONS, css=CSS, js=KEYS, **options,
    )


def check_port(host: str, port: int) -> None:
    """Fail fast, before the model loads, when the port is taken."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot serve on {host}:{port} ({error.strerror}): choose another port with --port N or PORT=N") from None


def use_private_upload_folder() -> str:
    """Keep this app's uploads in a folder of its own, removed when it stops.

    Gradio names an upload by its content hash under one folder shared by every app on the machine
    (GRADIO_TEMP_DIR, else /tmp/gradio), and a stopping app deletes every file it created there. A
    second app holding the same poster then lost it mid-call: "not a readable image".
    """
    from gradio.utils import get_upload_folder

    base = get_upload_folder()
    os.makedirs(base, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="genre-hf-app-", dir=base)
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def serve(host: str, port: int, model_ids: list[str] | None = None, examples_dir: str | None = None, log=print) -> None:
    """`genre-hf app`: check the port, load each model once, compile it for serving, serve until stopped."""
    check_port(host, port)
    use_private_upload_folder()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `docker stop`, a Space restart: as Ctrl+C, exit handlers run
    classifiers, where, unavailable = {}, {}, {}
    for source in model_ids or model_sources():
        log(f"Loading the model from {source}")
        classifier = GenreClassifier.from_pretrained(source)
        classifier.compile_for_serving()
        label = family_label(classifier)
        label = label if label not in classifiers else f"{label} ({source})"
        classifiers[label], where[label], unavailable[label] = classifier, source, classifier.unavailable_inputs()
        for modality, why in unavailable[label].items():  # served anyway: the models that do not read it answer
            log(f"{label}: its {modality} model is unavailable here: {why}")
    launch(build_demo(classifiers, examples_dir=examples_dir, model_ids=where, unavailable=unavailable), host, port)
