"""The Gradio page: what the poster alone, the overview alone and both together say about a movie.

`build_demo` builds the page around one or more loaded `GenreClassifier`s, one per model family (a
visitor switches between them; the `/predict` API answer is `answer.compare`); `serve` is
`genre-hf app`: it picks the models, checks the port, loads each model once and serves.
Publishing the page as a Space is `publish.py`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import datasets
import gradio as gr
from huggingface_hub import constants

from genre_hf.app.answer import compare
from genre_hf.app.explain_view import add_explain_section
from genre_hf.config import MODEL_NAMES
from genre_hf.data import upstream
from genre_hf.data.loader import load_movies
from genre_hf.data.splits import SplitSpec
from genre_hf.evaluation.scoring import to_markdown
from genre_hf.hub.card import BENCHMARK_JSON, PLOTS

DEFAULT_MODEL_REPO = "genre-hf/imdb-genres"
LOCAL_MODELS = ("artifacts/model", "artifacts/model-pretrained")
SPACE_CONFIG = "space_config.json"
SPACE_TITLE = "Movie genres: poster vs overview"
TOP_CLASSES = 5
EXAMPLES = 8
CONCURRENCY = 2  # two CPU cores on a free Space: more threads only slow each request down
QUEUE_SIZE = 64
MAX_FILE_SIZE = "50mb"  # a 10,000 x 10,000 photo fits; anything bigger is not a poster
DELETE_UPLOADS = (900, 900)  # every 15 minutes, delete uploads older than 15 minutes


def model_sources(environ=os.environ, root: Path | None = None) -> list[str]:
    """The models to serve, one per family: $GENRE_HF_MODEL (comma-separated), else the repos in a
    Space's `space_config.json`, else the local `artifacts/model` and `artifacts/model-pretrained`,
    else the published repo (all relative to the working directory)."""
    root = Path.cwd() if root is None else root
    if environ.get("GENRE_HF_MODEL"):
        return [source.strip() for source in environ["GENRE_HF_MODEL"].split(",") if source.strip()]
    if (root / SPACE_CONFIG).is_file():
        config = json.loads((root / SPACE_CONFIG).read_text())
        return config.get("models") or [config["model"]]
    local = [str(root / folder) for folder in LOCAL_MODELS if (root / folder).is_dir()]
    return local or [DEFAULT_MODEL_REPO]


def family_label(classifier) -> str:
    """How the page names a model family: "From scratch: Poster CNN + Overview LSTM"."""
    kind = "Pretrained" if any(encoder.frozen for encoder in classifier.encoders.values()) else "From scratch"
    return f"{kind}: {classifier.titles['poster']} + {classifier.titles['overview']}"


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
    titles = upstream.read_titles(data_dir)
    examples = []
    for movie in pool.cast_column("poster", datasets.Image(decode=False)):
        poster = movie["poster"]["path"]
        if (movie["id"] in titles or not titles) and poster and len(movie["overview"].split()) >= 5:
            title = titles.get(movie["id"], movie["id"])
            examples.append({"poster": poster, "overview": movie["overview"].strip(), "title": title, "genres": movie["genres"]})
        if len(examples) == count:
            break
    return examples


def build_demo(
    classifiers, examples_dir: str | Path | None = None, sources: dict[str, str] | None = None,
    delete_uploads: tuple[int, int] = DELETE_UPLOADS,
) -> gr.Blocks:
    """The Space's page around loaded classifiers ({family label: classifier}, or one classifier),
    with the queue set up; `launch` serves it.

    Uploaded posters are deleted `delete_uploads[1]` seconds after upload (checked every
    `delete_uploads[0]` seconds), so a long-running Space does not fill its disk.
    """
    if not isinstance(classifiers, dict):
        classifiers = {family_label(classifiers): classifiers}
    sources = sources or {label: str(c.files_dir or "") for label, c in classifiers.items()}
    labels = list(classifiers)
    first = classifiers[labels[0]]
    with gr.Blocks(title=SPACE_TITLE, delete_cache=delete_uploads) as demo:
        gr.Markdown(
            f"# {SPACE_TITLE}\nThree models guess a movie's genres: one sees only the **poster**, one "
            "reads only the **plot overview**, and one fuses both. Give a poster, an overview or both "
            "and see where they agree. Models: " + "; ".join(f"{label} from {model_link(sources[label])}" for label in labels) + "."
        )
        with gr.Tab("Compare"):
            family = gr.Radio(labels, value=labels[0], label="Model family", visible=len(labels) > 1, elem_id="family")
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
            outputs, headers = [status], []
            with gr.Row(equal_height=True):
                for name in MODEL_NAMES:
                    with gr.Column(elem_id=f"panel-{name}"):
                        headers.append(gr.Markdown(f"### {first.titles[name]}", elem_id=f"title-{name}"))
                        outputs.append(gr.Label(num_top_classes=TOP_CLASSES, show_label=False, show_heading=False))
                        outputs.append(gr.Markdown(elem_id=f"genres-{name}"))
            outputs.append(gr.Markdown(elem_id="agreement"))
            add_explain_section(classifiers, family, poster, overview)  # serves /explain
            with gr.Accordion("API answer (JSON)", open=False):
                answer = gr.JSON(label="answer", show_label=False)
            movies = example_movies(examples_dir, first.config) if examples_dir else []
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
            gr.Markdown(about(classifiers, sources))
            for label, classifier in classifiers.items():
                for plot in PLOTS:
                    if classifier.files_dir and (classifier.files_dir / plot).is_file():
                        caption = f"{label}: {plot[:-4].replace('_', ' ')}"
                        gr.Image(str(classifier.files_dir / plot), label=caption, interactive=False)

        def predict(poster, overview, family=labels[0]):
            if family not in classifiers:
                raise gr.Error(f"no model family {family!r}; this app has {labels}")
            return compare(classifiers[family], poster, overview)

        def redraw(result, family):
            return show(result, classifiers[family].titles if family in classifiers else first.titles)

        button.click(predict, [poster, overview, family], answer, api_name="predict").success(
            redraw, [answer, family], outputs, api_visibility="private"
        )
        family.change(lambda f: [f"### {classifiers[f].titles[name]}" for name in MODEL_NAMES], family, headers,
                      api_visibility="private").then(
            lambda p, o, f: compare(classifiers[f], p, o) if p is not None or (o or "").strip() else gr.skip(),
            [poster, overview, family], answer, api_visibility="private",
        ).success(redraw, [answer, family], outputs, api_visibility="private")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def about(classifiers: dict, sources: dict[str, str]) -> str:
    """The About tab: the families side by side on the test split, then each one's full benchmark,
    and the API call."""
    reports = {}
    for label, classifier in classifiers.items():
        path = classifier.files_dir / BENCHMARK_JSON if classifier.files_dir else None
        splits = json.loads(path.read_text()) if path and path.is_file() else {}
        reports[label] = splits.get("test") or splits.get("validation")
    sections = [side_by_side(reports)] if len(reports) > 1 else []
    for label, classifier in classifiers.items():
        report = reports[label]
        table = to_markdown(report) if report else "_No benchmark with this model._"
        sections.append(
            f"## {label}\nLoaded from {model_link(sources[label])}. It predicts {len(classifier.genres)} genres: "
            f"{', '.join(classifier.genres)}. Probabilities are calibrated (temperature scaling); a genre is "
            "*predicted* when it passes that model's own threshold for it, tuned on the validation split.\n\n" + table
        )
    where = os.environ.get("SPACE_ID") or "http://127.0.0.1:7860/"
    family = f', family="{list(classifiers)[-1]}"' if len(classifiers) > 1 else ""
    sections.append(f"""## From Python
```python
from gradio_client import Client, handle_file
client = Client("{where}")
result = client.predict(poster=handle_file("poster.jpg"), overview="A retired hitman seeks revenge."{family}, api_name="/predict")
result["fusion"]["genres"]  # also result["poster"], result["overview"]; result["errors"], result["notes"]
```""")
    return "\n\n".join(sections)


def side_by_side(reports: dict[str, dict | None]) -> str:
    """Each family's three models on the split they were scored on: micro F1, macro F1, mAP."""
    lines = ["## The families side by side", "", "| family | model | split | micro F1 (tuned) | macro F1 (tuned) | mAP |", "|---|---|---|---|---|---|"]
    for label, report in reports.items():
        for name, scores in (report or {}).get("models", {}).items():
            lines.append(
                f"| {label} | {report['titles'][name]} | {report['split']} | {scores['tuned']['micro_f1']:.3f} | "
                f"{scores['tuned']['macro_f1']:.3f} | {scores['map']:.3f} |"
            )
    return "\n".join(lines)


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


def serve(host: str, port: int, sources: list[str] | None = None, examples_dir: str | None = None, log=print) -> None:
    """`genre-hf app`: check the port, load each model once, compile it for serving, serve until stopped."""
    from genre_hf.inference.classifier import GenreClassifier

    check_port(host, port)
    classifiers, where = {}, {}
    for source in sources or model_sources():
        log(f"Loading the model from {source}")
        classifier = GenreClassifier.from_pretrained(source)
        classifier.compile_for_serving()
        label = family_label(classifier)
        label = label if label not in classifiers else f"{label} ({source})"
        classifiers[label], where[label] = classifier, source
    launch(build_demo(classifiers, examples_dir=examples_dir, sources=where), host, port)
