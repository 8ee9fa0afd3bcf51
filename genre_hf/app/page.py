"""The Gradio page: what the poster alone, the overview alone and both together say about a movie.

`build_demo` builds the page around one or more loaded `GenreClassifier`s, one per model family (a
visitor switches between them; the `/predict` API answer is `answer.api_answer`). Serving it is
`serve.py`, its About tab `about.py`, its examples `examples.py`, publishing it as a Space `publish.py`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from genre_hf.app.about import about
from genre_hf.app.answer import api_answer
from genre_hf.app.examples import EXAMPLES, example_movies
from genre_hf.app.explain_view import add_explain_section
from genre_hf.app.guard import MAX_OVERVIEW_CHARS, UPLOAD_AGE, UPLOAD_SWEEP, release_memory
from genre_hf.app.labels import family_label, model_link
from genre_hf.config import MODEL_NAMES
from genre_hf.hub.folder import PLOTS

SPACE_TITLE = "Movie genres: poster vs overview"
TOP_CLASSES = 5
CONCURRENCY = 2  # two CPU cores on a free Space: more threads only slow each request down
QUEUE_SIZE = 64
DELETE_UPLOADS = (UPLOAD_SWEEP, UPLOAD_AGE)  # every minute, delete uploads older than 15 minutes


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


def panel_values(result: dict, titles: dict[str, str]) -> list:
    """The page's view of an `api_answer`: status, then (probabilities, genres) per model, then
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


def build_demo(
    classifiers, examples_dir: str | Path | None = None, model_ids: dict[str, str] | None = None,
    delete_uploads: tuple[int, int] = DELETE_UPLOADS,
) -> gr.Blocks:
    """The Space's page around loaded classifiers ({family label: classifier}, or one classifier),
    with the queue set up; `launch` serves it.

    Uploaded posters are deleted `delete_uploads[1]` seconds after upload (checked every
    `delete_uploads[0]` seconds), so a long-running Space does not fill its disk.
    """
    if not isinstance(classifiers, dict):
        classifiers = {family_label(classifiers): classifiers}
    model_ids = model_ids or {label: str(c.files_dir or "") for label, c in classifiers.items()}
    labels = list(classifiers)
    first = classifiers[labels[0]]
    with gr.Blocks(title=SPACE_TITLE, delete_cache=delete_uploads) as demo:
        gr.Markdown(
            f"# {SPACE_TITLE}\nThree models guess a movie's genres: one sees only the **poster**, one "
            "reads only the **plot overview**, and one fuses both. Give a poster, an overview or both "
            "and see where they agree. Models: " + "; ".join(f"{label} from {model_link(model_ids[label])}" for label in labels) + "."
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
                        elem_id="overview", max_length=MAX_OVERVIEW_CHARS,
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
            gr.Markdown(about(classifiers, model_ids))
            for label, classifier in classifiers.items():
                for plot in PLOTS:
                    if classifier.files_dir and (classifier.files_dir / plot).is_file():
                        caption = f"{label}: {plot[:-4].replace('_', ' ')}"
                        gr.Image(str(classifier.files_dir / plot), label=caption, interactive=False)

        def predict(poster, overview, family=labels[0]):
            if family not in classifiers:
                raise gr.Error(f"no model family {family!r}; this app has {labels}")
            try:
                return api_answer(classifiers[family], poster, overview)
            finally:
                release_memory()

        def redraw(result, family):
            if result is None:  # the family switched before any movie was given: nothing to redraw
                return [gr.skip()] * len(outputs)
            return panel_values(result, classifiers[family].titles if family in classifiers else first.titles)

        button.click(predict, [poster, overview, family], answer, api_name="predict").success(
            redraw, [answer, family], outputs, api_visibility="private"
        )
        family.change(lambda f: [f"### {classifiers[f].titles[name]}" for name in MODEL_NAMES], family, headers,
                      api_visibility="private").then(
            lambda p, o, f: api_answer(classifiers[f], p, o) if p is not None or (o or "").strip() else gr.skip(),
            [poster, overview, family], answer, api_visibility="private",
        ).success(redraw, [answer, family], outputs, api_visibility="private")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
