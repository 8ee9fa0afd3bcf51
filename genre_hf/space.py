"""The Gradio Space: what the poster alone, the overview alone and both together say about a movie.

`compare` is the one prediction call behind the button and the `/predict` API; `build_demo` builds
the page around one loaded `GenreClassifier`; `publish_space` puts the app on the Hub as a Gradio
Space that loads its model from a model repo (named in the Space's `space_config.json`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import gradio as gr
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, SpaceCard, SpaceCardData, constants

from genre_hf.card import BENCHMARK_MD, PLOTS
from genre_hf.config import MODEL_NAMES, PROJECT_URL
from genre_hf.config import MODEL_TITLES as TITLES
from genre_hf.data import UPSTREAM_CSV, UPSTREAM_IMAGES, SplitSpec, parse_genres
from genre_hf.posters import poster_to_array
from genre_hf.predictor import MODEL_INPUTS

ROOT = Path(__file__).resolve().parent.parent  # holds app.py and model_card.md, here and in the Space
DEFAULT_MODEL_REPO = "genre-hf/imdb-genres"
LOCAL_MODEL = "artifacts/model"
SPACE_CONFIG = "space_config.json"
SPACE_TITLE = "Movie genres: poster vs overview"
SPACE_DESCRIPTION = "Genres from a movie poster, its plot, or both"
NEEDS = {"poster": "a poster", "overview": "an overview"}
TOP_CLASSES = 5
EXAMPLES = 8
CONCURRENCY = 2  # two CPU cores on a free Space: more threads only slow each request down
QUEUE_SIZE = 64
MAX_FILE_SIZE = "50mb"  # a 10,000 x 10,000 photo fits; anything bigger is not a poster


def model_source(environ=os.environ, root: Path = ROOT) -> str:
    """The model to serve: $GENRE_HF_MODEL, else the repo in a Space's `space_config.json`, else a
    local `artifacts/model`, else the published repo."""
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


# ---- one movie in, what every model says out ------------------------------------------------------


def compare(classifier, poster, overview: str | None) -> dict:
    """What each model says about one movie: the `/predict` API's answer.

    `{"cnn" | "lstm" | "fusion": predict()'s entry, or {"needs": [...], "message": "Needs ..."},
    "errors": [...], "notes": [...]}`. A missing or unreadable input only silences the models that
    need it, so one bad input never hides what the other models can say.
    """
    errors, notes = [], []
    overview = overview if isinstance(overview, str) and overview.strip() else None
    image = None
    if poster is not None:
        try:
            image = poster_to_array(poster, classifier.config.image_size)
        except ValueError as error:
            # Name an uploaded file as its user knows it, not by its path in the server's cache.
            message = str(error)
            if isinstance(poster, (str, Path)):
                message = message.replace(str(poster), Path(poster).name)
            errors.append(f"Poster ignored: {message}.")
    if overview is not None:
        notes += _overview_notes(classifier, overview)
    if image is None and overview is None and not errors:
        errors.append("Give a poster, an overview or both.")
    answers = classifier.predict(poster=image, overview=overview) if image is not None or overview else {}
    given = {"poster": image is not None, "overview": overview is not None}
    needs = dict(NEEDS, poster="a readable poster") if poster is not None and image is None else NEEDS
    result = {}
    for name in MODEL_NAMES:
        missing = [need for need in MODEL_INPUTS[name] if not given[need]]
        result[name] = answers.get(name) or {
            "needs": missing,
            "message": "Needs " + " and ".join(needs[need] for need in missing),
        }
    return {**result, "errors": errors, "notes": notes}


def _overview_notes(classifier, overview: str) -> list[str]:
    """Say so when the LSTM reads only part of the overview, or none of its words are known."""
    tokens = classifier.tokenize([overview])[0]
    words = len(overview.split())
    if not (tokens > 1).any():  # 0 pads, 1 is out of vocabulary
        return ["None of the overview's words are in the model's vocabulary (it learned from English "
                "IMDb overviews), so the overview models can only guess."]
    if words > len(tokens):
        return [f"The overview has {words:,} words; the models read the first {len(tokens)}."]
    return []


def agreement(result: dict) -> str:
    """Genre by genre, which models predict it (✓) and which do not (–), with their probabilities."""
    ran = [name for name in MODEL_NAMES if "probabilities" in result[name]]
    if not ran:
        return ""
    genres = {genre for name in ran for genre in result[name]["genres"]}
    if not genres:
        return "No model puts any genre over its threshold."
    order = sorted(genres, key=lambda genre: -max(result[name]["probabilities"][genre] for name in ran))
    lines = ["| Genre | " + " | ".join(TITLES[name] for name in ran) + " |", "|---" * (len(ran) + 1) + "|"]
    for genre in order:
        cells = [
            f"{'✓' if genre in result[name]['genres'] else '–'} {result[name]['probabilities'][genre]:.0%}"
            for name in ran
        ]
        lines.append(f"| {genre} | " + " | ".join(cells) + " |")
    shared = [genre for genre in order if all(genre in result[name]["genres"] for name in ran)]
    differ = [genre for genre in order if genre not in shared]
    if len(ran) == 1:
        summary = f"Only the {TITLES[ran[0]]} could answer; give both inputs to compare the models."
    else:
        summary = f"**Agree on:** {', '.join(shared) or 'nothing'} · **Differ on:** {', '.join(differ) or 'nothing'}"
    legend = "✓ over that model's tuned threshold for the genre, – under it; calibrated probabilities."
    return "\n\n".join([summary, "\n".join(lines), legend])


def show(result: dict) -> list:
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
    return values + [agreement(result)]


# ---- the page -------------------------------------------------------------------------------------


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
    """Up to `count` validation movies (never trained on) with a poster, genres and (from titles.csv,
    where there is one) a title."""
    data_dir = Path(data_dir)
    if not (data_dir / UPSTREAM_CSV).is_file():
        return []
    titles = {}
    if (data_dir / "titles.csv").is_file():
        with open(data_dir / "titles.csv", newline="", encoding="utf-8") as handle:
            titles = {row["Id"]: f"{_title(row['title'])} ({row['year']})" for row in csv.DictReader(handle)}
    movies, split = [], SplitSpec.from_config(config)
    with open(data_dir / UPSTREAM_CSV, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            movie_id, overview = record["Id"].strip(), (record.get("Overview") or "").strip()
            poster = data_dir / UPSTREAM_IMAGES / f"{movie_id}.jpg"
            genres = parse_genres(record.get("Genre"))
            if (
                split.of(movie_id) == "validation"
                and (movie_id in titles or not titles) and genres and poster.is_file() and len(overview.split()) >= 5
            ):
                title = titles.get(movie_id, movie_id)
                movies.append({"poster": str(poster), "overview": overview, "title": title, "genres": genres})
            if len(movies) == count:
                break
    return movies


def _title(raw: str) -> str:
    """MovieLens writes "Big Chill, The (Original title)", here with ';' for ',': show "The Big Chill"."""
    name, _, article = raw.split(" (")[0].rpartition(";")
    return (f"{article} {name}" if name and article in ("The", "A", "An") else raw.split(" (")[0]).replace(";", ", ")


def build_demo(classifier, examples_dir: str | Path | None = None, source: str | None = None) -> gr.Blocks:
    """The Space's page around one loaded classifier, with the queue set up; `launch` serves it."""
    source = source or str(classifier.files_dir or "")
    with gr.Blocks(title=SPACE_TITLE) as demo:
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
                        gr.Markdown(f"### {TITLES[name]}")
                        outputs.append(gr.Label(num_top_classes=TOP_CLASSES, show_label=False, show_heading=False))
                        outputs.append(gr.Markdown(elem_id=f"genres-{name}"))
            outputs.append(gr.Markdown(elem_id="agreement"))
            with gr.Accordion("API answer (JSON)", open=False):
                answer = gr.JSON(label="answer", show_label=False)
            movies = example_movies(examples_dir, classifier.config) if examples_dir else []
            if movies:
                gr.Examples(
                    [[m["poster"], m["overview"], f"{m['title']} · {', '.join(m['genres'])}"] for m in movies],
                    inputs=[poster, overview, truth],
                    label="Validation movies (never seen in training)",
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
            show, answer, outputs, api_visibility="private"
        )
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def about(classifier, source: str) -> str:
    """The About tab: where the model is, what it predicts, its benchmark table and the API call."""
    benchmark = classifier.files_dir / BENCHMARK_MD if classifier.files_dir else None
    if benchmark and benchmark.is_file():
        table = benchmark.read_text(encoding="utf-8")
    else:
        table = "_No benchmark.md with this model._"
    where = os.environ.get("SPACE_ID") or "http://127.0.0.1:7860/"
    return f"""## The model
Loaded from {model_link(source)}. It predicts {len(classifier.genres)} genres: {', '.join(classifier.genres)}.
Probabilities are calibrated (temperature scaling); a genre is *predicted* when it passes that model's own
threshold for it, tuned on the validation split.

## Benchmark (validation split)
{table}

## From Python
```python
from gradio_client import Client, handle_file
client = Client("{where}")
result = client.predict(poster=handle_file("poster.jpg"), overview="A retired hitman seeks revenge.", api_name="/predict")
result["fusion"]["genres"]  # also result["cnn"], result["lstm"]; result["errors"], result["notes"]
```
"""


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **options):
    """Serve `demo`: errors shown as messages, uploads capped, no share link."""
    return demo.launch(
        server_name=host, server_port=port, show_error=True, max_file_size=MAX_FILE_SIZE, share=False, **options
    )


# ---- publishing the Space ---------------------------------------------------------------------------


def space_card(model_repo_id: str) -> SpaceCard:
    data = SpaceCardData(
        title=SPACE_TITLE,
        emoji="🎬",
        colorFrom="indigo",
        colorTo="pink",
        sdk="gradio",
        sdk_version=gr.__version__,
        python_version="3.11",
        app_file="app.py",
        models=[model_repo_id],
        license="other",
        short_description=SPACE_DESCRIPTION,
        pinned=False,
    )
    body = (
        f"# {SPACE_TITLE}\n\nCompare what a poster CNN, an overview LSTM and a fusion of both say about a "
        f"movie's genres. The model is [{model_repo_id}]({constants.ENDPOINT}/{model_repo_id}), named in "
        f"`{SPACE_CONFIG}` (the `GENRE_HF_MODEL` variable overrides it). Made with "
        f"[genre_hf]({PROJECT_URL}); research and educational use only.\n"
    )
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def space_requirements() -> str:
    """The project's pinned runtime requirements, as they are."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "-"))]
    return "\n".join(pins) + "\n"


def space_files(model_repo_id: str) -> dict[str, bytes]:
    """Every file of the Space, by its path in the repo."""
    package = Path(__file__).resolve().parent
    files = {
        "app.py": (ROOT / "app.py").read_bytes(),
        "model_card.md": (ROOT / "model_card.md").read_bytes(),
        "requirements.txt": space_requirements().encode(),
        "README.md": str(space_card(model_repo_id)).encode(),
        SPACE_CONFIG: (json.dumps({"model": model_repo_id}, indent=2) + "\n").encode(),
    }
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[f"genre_hf/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    return files


def publish_space(space_id: str, model_repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create (or update) a Gradio Space serving `model_repo_id`; returns the Space's URL. `private`
    applies when the Space is created.

    One commit uploads the app, the package and the Space's README and requirements, and removes
    package modules that no longer exist, so a re-publish never leaves stale code behind.
    """
    api = HfApi(token=token)
    if not api.repo_exists(model_repo_id):
        raise ValueError(f"model repo {model_repo_id} not found on {api.endpoint}: push the model first")
    url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    files = space_files(model_repo_id)
    stale = [
        path for path in api.list_repo_files(url.repo_id, repo_type="space")
        if path.startswith("genre_hf/") and path not in files
    ]
    api.create_commit(
        url.repo_id,
        repo_type="space",
        operations=[CommitOperationAdd(path, data) for path, data in files.items()]
        + [CommitOperationDelete(path) for path in stale],
        commit_message=f"Publish the genre_hf app for {model_repo_id}",
    )
    return str(url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Publish the genre_hf app as a Gradio Space.")
    parser.add_argument("--space-id", required=True, help="the Space to create or update, e.g. user/imdb-genres-demo")
    parser.add_argument("--model-repo", required=True, help="the model repo the Space serves, e.g. user/imdb-genres")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--token", default=None, help="a Hub write token (default: HF_TOKEN or the stored login)")
    args = parser.parse_args(argv)
    print(publish_space(args.space_id, args.model_repo, token=args.token, private=args.private))


if __name__ == "__main__":
    main()
