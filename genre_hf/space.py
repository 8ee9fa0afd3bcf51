"""The Gradio page: what the poster alone, the overview alone and both together say about a movie.

`build_demo` builds the page around one loaded `GenreClassifier` (the `/predict` API answer is
`answer.compare`); `serve` is `genre-hf app`: it picks the model, checks the port, loads the model
once and serves. Publishing the page as a Space is `publish.py`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import datasets
import gradio as gr
from huggingface_hub import constants

from genre_hf.answer import compare
from genre_hf.card import BENCHMARK_JSON, PLOTS
from genre_hf.config import MODEL_NAMES
from genre_hf.data import SplitSpec, load_movies
from genre_hf.evaluation import to_markdown
from genre_hf.explain_view import add_explain_section

DEFAULT_MODEL_REPO = "genre-hf/imdb-genres"
LOCAL_MODEL = "artifacts/model"
SPACE_CONFIG = "space_config.json"
SPACE_TITLE = "Movie genres: poster vs overview"
TOP_CLASSES = 5
EXAMPLES = 8
CONCURRENCY = 2  # two CPU cores on a free Space: more threads only slow each request down
QUEUE_SIZE = 64
MAX_FILE_SIZE = "50mb"  # a 10,000 x 10,000 photo fits; anything bigger is not a poster
DELETE_UPLOADS = (900, 900)  # every 15 minutes, delete uploads older than 15 minutes


def model_source(environ=os.environ, root: Path | None = None) -> str:
    """The model to serve: $GENRE_HF_MODEL, else the repo in a Space's `space_config.json`, else a
    local `artifacts/model`, else the published repo (all relative to the working directory)."""
    root = Path.cwd() if root is None else root
    if environ.get("GENRE_HF_MODEL"):
        return environ["GENRE_HF_MODEL"]
    if (root / SPACE_CONFIG).is_file():
        return json.loads((root / SPACE_CONFIG).read_text())["model"]
    if (root / LOCAL_MODEL).is_dir():
        return str(root / LOCAL_MODEL)
    return DEFAULT_MODEL_REPO


def model_link(source: str) -> str:
    """Markdown pointing at where the model came from: its Hub page, or the local folder."""
    if Path(source).is_dir():
        return f"the local folder `{Path(source).resolve()}`"
    return f"[{source}]({constants.ENDPOINT}/{source})"


def agreement(result: dict, titles: dict[str, str]) -> str:
    """Genre by genre, which models predict it (✓) and which do not (–), with their probabilities."""
    ran = [name for name in MODEL_NAMES if "probabilities" in result[name]]
    if not ran:
        return ""
    genres = {genre for name in ran for genre in result[name]["genres"]}
    if not genres:
        return "No model puts any genre over its threshold."
    order = sorted(genres, key=lambda genre: -max(result[name]["probabilities"][genre] for name in ran))
    lines = ["| Genre | " + " | ".join(titles[name] for name in ran) + " |", "|---" * (len(ran) + 1) + "|"]
    for genre in order:
        cells = [
            f"{'✓' if genre in result[name]['genres'] else '–'} {result[name]['probabilities'][genre]:.0%}"
            for name in ran
        ]
        lines.append(f"| {genre} | " + " | ".join(cells) + " |")
    shared = [genre for genre in order if all(genre in result[name]["genres"] for name in ran)]
    differ = [genre for genre in order if genre not in shared]
    summary = f"**Agree on:** {', '.join(shared) or 'nothing'} · **Differ on:** {', '.join(differ) or 'nothing'}"
    legend = "✓ over that model's tuned threshold for the genre, – under it; calibrated probabilities."
    return "\n\n".join([summary, "\n".join(lines), legend])


def show(result: dict, titles: dict[str, str]) -> list:
    """The page's view of a `compare` answer: status, then (probabilities, genres) per model, then
    the agreement table."""
    for error in result["errors"]:
        gr.Warning(error)
    status = [f"**Warning:** {error}" for error in result["errors"]] + [f"**Note:** {note}" for note in result["notes"]]
    values = ["\n\n".join(status)]
    for name in MODEL_NAMES:
        entry = result[name]
        if "probabilities" in entry:
            genres = ", ".join(entry["genres"]) or "none over its thresholds"
            values += [entry["probabilities"], f"**Predicted:** {genres}"]
        else:
            values += [None, f"**{entry['message']}.**"]
    return values + [agreement(result, titles)]


class PosterInput(gr.Image):
    """`gr.Image` that hands the uploaded file over unopened (Gradio still checks where it lives), so
    a file that is no image reaches the model's own checks and a clear message, not a failure inside
    Gradio's preprocessing."""

    is_template = True  # drawn by the frontend as a plain Image

    def preprocess(self, payload):
        if payload is not None and payload.path:
            return payload.path
        return super().preprocess(payload)


def example_movies(data_dir: str | Path, config, count: int = EXAMPLES) -> list[dict]:
    """Up to `count` test-split movies (never trained or tuned on) with a poster, genres and (from
    titles.csv, where there is one) a title, read by the same loader as training."""
    data_dir = Path(data_dir)
    try:
        movies, _ = load_movies(data_dir, split=SplitSpec.from_config(config))
    except ValueError:
        return []
    pool = movies.get("test") or movies.get("validation")
    if pool is None:
        return []
    titles = _titles(data_dir / "titles.csv")
    examples = []
    for movie in pool.cast_column("poster", datasets.Image(decode=False)):
        poster = movie["poster"]["path"]
        if (movie["id"] in titles or not titles) and poster and len(movie["overview"].split()) >= 5:
            title = titles.get(movie["id"], movie["id"])
            examples.append({"poster": poster, "overview": movie["overview"].strip(), "title": title, "genres": movie["genres"]})
        if len(examples) == count:
            break
    return examples


def _titles(path: Path) -> dict[str, str]:
    """MovieLens titles by IMDb id: "Big Chill;The" -> "The Big Chill (1983)"."""
    import csv

    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["Id"]: f"{_title(row['title'])} ({row['year']})" for row in csv.DictReader(handle)}


def _title(raw: str) -> str:
    """MovieLens writes "Big Chill, The (Original title)", here with ';' for ',': show "The Big Chill"."""
    name, _, article = raw.split(" (")[0].rpartition(";")
    return (f"{article} {name}" if name and article in ("The", "A", "An") else raw.split(" (")[0]).replace(";", ", ")


def build_demo(
    classifier, examples_dir: str | Path | None = None, source: str | None = None, delete_uploads: tuple[int, int] = DELETE_UPLOADS
) -> gr.Blocks:
    """The Space's page around one loaded classifier, with the queue set up; `launch` serves it.

    Uploaded posters are deleted `delete_uploads[1]` seconds after upload (checked every
    `delete_uploads[0]` seconds), so a long-running Space does not fill its disk.
    """
    source = source or str(classifier.files_dir or "")
    titles = classifier.titles
    with gr.Blocks(title=SPACE_TITLE, delete_cache=delete_uploads) as demo:
        gr.Markdown(
            f"# {SPACE_TITLE}\nThree models guess a movie's genres: one sees only the **poster**, one "
            "reads only the **plot overview**, and one fuses both. Give a poster, an overview or both "
            f"and see where they agree. Model: {model_link(source)}."
        )
        with gr.Tab("Compare"):
            with gr.Row():
                poster = PosterInput(
                    label="Poster", type="filepath", sources=["upload", "clipboard"], height=320, elem_id="poster"
                )
                with gr.Column():
                    overview = gr.Textbox(
                        label="Plot overview", lines=7, placeholder="A retired hitman seeks revenge...",
                        elem_id="overview",
                    )
                    truth = gr.Textbox(label="Example loaded (title · true genres)", interactive=False)
                    button = gr.Button("Predict genres", variant="primary")
            status = gr.Markdown(elem_id="status")
            outputs = [status]
            with gr.Row(equal_height=True):
                for name in MODEL_NAMES:
                    with gr.Column(elem_id=f"panel-{name}"):
                        gr.Markdown(f"### {titles[name]}")
                        outputs.append(gr.Label(num_top_classes=TOP_CLASSES, show_label=False, show_heading=False))
                        outputs.append(gr.Markdown(elem_id=f"genres-{name}"))
            outputs.append(gr.Markdown(elem_id="agreement"))
            add_explain_section(classifier, poster, overview)  # serves /explain
            with gr.Accordion("API answer (JSON)", open=False):
                answer = gr.JSON(label="answer", show_label=False)
            movies = example_movies(examples_dir, classifier.config) if examples_dir else []
            if movies:
                gr.Examples(
                    [[m["poster"], m["overview"], f"{m['title']} · {', '.join(m['genres'])}"] for m in movies],
                    inputs=[poster, overview, truth],
                    label="Test-split movies (never trained or tuned on)",
                    examples_per_page=EXAMPLES,
                )
            # Typing or uploading your own movie clears the example's truth (in the browser, no request).
            gr.on([poster.upload, overview.input], fn=None, js="() => ''", outputs=truth)
        with gr.Tab("About & benchmark"):
            gr.Markdown(about(classifier, source))
            for plot in PLOTS:
                if classifier.files_dir and (classifier.files_dir / plot).is_file():
                    gr.Image(str(classifier.files_dir / plot), label=plot[:-4].replace("_", " "), interactive=False)

        def predict(poster, overview):
            return compare(classifier, poster, overview)

        button.click(predict, [poster, overview], answer, api_name="predict").success(
            lambda result: show(result, titles), answer, outputs, api_visibility="private"
        )
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def about(classifier, source: str) -> str:
    """The About tab: where the model is, what it predicts, its benchmark table and the API call."""
    path = classifier.files_dir / BENCHMARK_JSON if classifier.files_dir else None
    reports = json.loads(path.read_text()) if path and path.is_file() else {}
    report = reports.get("test") or reports.get("validation")
    table = to_markdown(report) if report else "_No benchmark with this model._"
    where = os.environ.get("SPACE_ID") or "http://127.0.0.1:7860/"
    return f"""## The model
Loaded from {model_link(source)}. It predicts {len(classifier.genres)} genres: {', '.join(classifier.genres)}.
Probabilities are calibrated (temperature scaling); a genre is *predicted* when it passes that model's own
threshold for it, tuned on the validation split.

## Benchmark
{table}

## From Python
```python
from gradio_client import Client, handle_file
client = Client("{where}")
result = client.predict(poster=handle_file("poster.jpg"), overview="A retired hitman seeks revenge.", api_name="/predict")
result["fusion"]["genres"]  # also result["poster"], result["overview"]; result["errors"], result["notes"]
```
"""


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **options):
    """Serve `demo`: errors shown as messages, uploads capped, no share link."""
    return demo.launch(
        server_name=host, server_port=port, show_error=True, max_file_size=MAX_FILE_SIZE, share=False, **options
    )


def check_port(host: str, port: int) -> None:
    """Fail fast, before the model loads, when the port is taken."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot serve on {host}:{port} ({error.strerror}): choose another port with --port N or PORT=N") from None


def serve(host: str, port: int, source: str | None = None, examples_dir: str | None = None, log=print) -> None:
    """`genre-hf app`: check the port, load the model once, compile it for serving, serve until stopped."""
    from genre_hf.hub import GenreClassifier

    check_port(host, port)
    source = source or model_source()
    log(f"Loading the model from {source}")
    classifier = GenreClassifier.from_pretrained(source)
    classifier.compile_for_serving()
    launch(build_demo(classifier, examples_dir=examples_dir, source=source), host, port)
