"""The Gradio page: what the poster alone, the overview alone and both together say about a movie.

`build_demo` builds the page around one or more loaded `GenreClassifier`s, one per model family (a
visitor switches between them; the `/predict` API answer is `answer.api_answer`). Serving it is
`serve.py`, its About tab `about.py`, its examples `examples.py`, publishing it as a Space `publish.py`.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import gradio as gr

from genre_hf.app.about import api_example, benchmark_report, family_details, headline, served_at
from genre_hf.app.answer import api_answer
from genre_hf.app.compare import CSS as COMPARE_CSS
from genre_hf.app.compare import certainty, comparison_table, ran, verdict
from genre_hf.app.examples import example_movies, servable
from genre_hf.app.explain_view import CSS as EXPLAIN_CSS
from genre_hf.app.explain_view import add_explain_section
from genre_hf.app.guard import MAX_OVERVIEW_CHARS, UPLOAD_AGE, UPLOAD_SWEEP, release_memory, upload_only
from genre_hf.app.labels import family_label, model_link, unbroken
from genre_hf.hub.folder import PLOTS
from genre_hf.modeling import MODEL_NAMES

SPACE_TITLE = "Movie genres: poster vs overview"
TOP_CLASSES = 5
CONCURRENCY = 2  # two CPU cores on a free Space: more threads only slow each request down
QUEUE_SIZE = 64
DELETE_UPLOADS = (UPLOAD_SWEEP, UPLOAD_AGE)  # every minute, delete uploads older than 15 minutes
PLOT_CAPTIONS = {"training_curves.png": "Training curves", "pr_curves.png": "Precision and recall",
                 "per_genre_f1.png": "F1 per genre", "reliability.png": "Calibration: predicted probability vs how often it is right"}


def panel_values(result: dict, titles: dict[str, str], truth: dict | None = None) -> list:
    """The page's view of an `api_answer`: status, the verdict and comparison table, then
    (probabilities, listed genres) per model. `truth`: the example's title and true genres."""
    for error in result["errors"]:
        gr.Warning(error)
    status = [f"**Warning:** {error}" for error in result["errors"]] + [f"**Note:** {note}" for note in result["notes"]]
    true_genres = truth["genres"] if truth else None
    heading = f"**{truth['title']}**, truly {', '.join(true_genres)}. " if truth else ""
    names = ran(result)
    values = ["\n\n".join(status), (heading + verdict(result, names)) if names else heading, comparison_table(result, true_genres)]
    for name in MODEL_NAMES:
        entry = result[name]
        if "probabilities" in entry:
            listed = ", ".join(f"{genre} ({certainty(entry['probabilities'][genre], listed=True)})" for genre in entry["genres"])
            values += [entry["probabilities"], f"**Predicted:** {listed or 'no genre is likely enough'}"]
        else:
            values += [None, f"**{entry['message']}.**"]
    return values


@upload_only
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
    delete_uploads: tuple[int, int] = DELETE_UPLOADS, unavailable: dict[str, dict[str, str]] | None = None,
) -> gr.Blocks:
    """The Space's page around loaded classifiers ({family label: classifier}, or one classifier),
    with the queue set up; `launch` serves it (with the page's CSS and keys, `CSS` and `KEYS`).

    Uploaded posters are deleted `delete_uploads[1]` seconds after upload (checked every
    `delete_uploads[0]` seconds), so a long-running Space does not fill its disk.

    A family whose encoder cannot be loaded here (a pretrained text encoder without the Hub, its cache
    or a mirror: `GenreClassifier.unavailable_inputs`, asked once, here unless `unavailable` gives it
    per family) is offered marked as such, with the one line that says why and what fixes it; its
    models that do not need that encoder answer.
    """
    if not isinstance(classifiers, dict):
        classifiers = {family_label(classifiers): classifiers}
    model_ids = model_ids or {label: "" for label in classifiers}
    labels = list(classifiers)
    unavailable = unavailable or {label: classifier.unavailable_inputs() for label, classifier in classifiers.items()}

    def predict(poster, overview, family=labels[0]):
        if family not in classifiers:
            raise gr.Error(f"no model family {family!r}; this app has {labels}")
        try:
            return api_answer(classifiers[family], poster, overview, unavailable.get(family))
        finally:
            release_memory()

    first = classifiers[labels[0]]
    movies = servable(example_movies(examples_dir, first.config)) if examples_dir else []
    with gr.Blocks(title=SPACE_TITLE, delete_cache=delete_uploads) as demo:
        gr.Markdown(
            f"# {SPACE_TITLE}\nThree models guess a movie's genres: one sees only the **poster**, one reads only "
            "the **plot overview**, one uses **both**. Give a poster, an overview or both, and compare. "
            "Models: " + "; ".join(f"{unbroken(label)}, {model_link(model_ids[label])}" for label in labels) + ".",
            elem_id="intro",
        )
        with gr.Tab("Compare"):
            family = gr.Radio([(family_choice(label, unavailable[label]), label) for label in labels], value=labels[0],
                              label="Model family", visible=len(labels) > 1, elem_id="family")
            gr.Markdown(unavailable_notice(unavailable), elem_id="unavailable", visible=any(unavailable.values()))
            truth = gr.State(None)  # the loaded example's {"title", "genres", "overview"}; None after a visitor's own poster
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    with gr.Row():
                        poster = PosterInput(label="Poster", type="filepath", sources=["upload", "clipboard"], height=300,
                                             elem_id="poster", min_width=220)
                        overview = gr.Textbox(
                            label="Plot overview (Enter predicts)", lines=8, placeholder="A retired hitman seeks revenge...",
                            elem_id="overview", max_length=MAX_OVERVIEW_CHARS, min_width=220,
                        )
                    with gr.Row():
                        button = gr.Button("Predict genres", variant="primary", elem_id="predict")
                        clear = gr.Button("Clear", variant="secondary", elem_id="clear")
                if movies:
                    with gr.Column(scale=2, min_width=260, elem_id="examples"):
                        examples = gr.Dataset(
                            components=["image", "textbox"],
                            samples=[[movie["poster"], f"{movie['title']} · {', '.join(movie['genres'])}"] for movie in movies],
                            headers=["Poster", "Movie · true genres"], type="index", samples_per_page=4,
                            label="Examples (never trained or tuned on): click one", elem_id="example-movies",
                        )
            status = gr.Markdown(elem_id="status")
            with gr.Column(elem_id="comparison"):
                summary = gr.Markdown(elem_id="verdict")
                table = gr.HTML(elem_id="comparison-table")
            outputs, headers = [status, summary, table], []
            with gr.Row(equal_height=True):
                for name in MODEL_NAMES:
                    with gr.Column(elem_id=f"panel-{name}", min_width=220):
                        headers.append(gr.Markdown(f"### {first.titles[name]}", elem_id=f"title-{name}"))
                        outputs.append(gr.Label(num_top_classes=TOP_CLASSES, show_label=False, show_heading=False))
                        outputs.append(gr.Markdown(elem_id=f"genres-{name}"))
            answer = gr.JSON(label="answer", show_label=False, render=False)  # drawn below Explain, wired first:
            # the browser's client takes event 0 for /predict ("Too many arguments provided" otherwise).
            shown = [summary, table, *outputs[3:]]  # where a visitor sees the call running or queued
            predicted = button.click(predict, [poster, overview, family], answer, api_name="predict", show_progress_on=shown)
            add_explain_section(classifiers, family, poster, overview, unavailable)  # serves /explain
            with gr.Accordion("API answer (JSON)", open=False):
                answer.render()
        with gr.Tab("About & benchmark", elem_id="about"):
            reports = {label: benchmark_report(classifier) for label, classifier in classifiers.items()}
            gr.Markdown("## How good are the models?\n" + headline(reports), elem_classes=["fits"])
            for label, classifier in classifiers.items():
                with gr.Accordion(f"{label}: every figure, baselines, per genre", open=False):
                    gr.Markdown(family_details(classifier, model_ids[label], reports[label]), elem_classes=["wide"])
                plots = [plot for plot in PLOTS if classifier.files_dir and (classifier.files_dir / plot).is_file()]
                if plots:
                    with gr.Accordion(f"{label}: plots", open=len(classifiers) == 1):
                        for plot in plots:
                            gr.Markdown(f"**{PLOT_CAPTIONS.get(plot, plot)}**")
                            gr.Image(str(classifier.files_dir / plot), show_label=False, interactive=False, buttons=[])
            snippet = gr.Markdown(api_example(labels), elem_id="api-example")

        def redraw(result, family, truth, overview):
            if result is None:  # the family switched before any movie was given: nothing to redraw
                return [gr.skip()] * len(outputs)
            truth = truth if truth and truth["overview"] == (overview or "").strip() else None  # edited: the visitor's own movie
            return panel_values(result, classifiers[family].titles if family in classifiers else first.titles, truth)

        predicted.success(redraw, [answer, family, truth, overview], outputs, api_visibility="private")
        clear.click(lambda: (None, "", None, None), None, [poster, overview, truth, answer], api_visibility="private").then(
            lambda: ["", "", "", *[None, ""] * len(MODEL_NAMES)], None, outputs, api_visibility="private")
        family.change(lambda f: [f"### {classifiers[f].titles[name]}" for name in MODEL_NAMES], family, headers,
                      api_visibility="private").then(
            lambda p, o, f: api_answer(classifiers[f], p, o, unavailable.get(f)) if p is not None or (o or "").strip() else gr.skip(),
            [poster, overview, family], answer, api_visibility="private", show_progress_on=shown,
        ).success(redraw, [answer, family, truth, overview], outputs, api_visibility="private")
        # A visitor's own poster: no longer the example, so no true genres (an edited overview is caught in redraw).
        poster.upload(lambda: None, None, truth, api_visibility="private", show_progress="hidden")
        if movies:
            def load_example(index):
                movie = movies[index]
                return movie["poster"], movie["overview"], {"title": movie["title"], "genres": movie["genres"], "overview": movie["overview"]}

            examples.click(load_example, examples, [poster, overview, truth], api_visibility="private").then(
                predict, [poster, overview, family], answer, api_visibility="private", show_progress_on=shown,
            ).success(redraw, [answer, family, truth, overview], outputs, api_visibility="private").then(
                None, js="() => document.getElementById('comparison').scrollIntoView({block: 'start', behavior: 'smooth'})")
        demo.load(None, None, snippet, js=served_at(snippet.value), api_visibility="private")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def family_choice(label: str, unavailable: dict[str, str]) -> str:
    """How the family picker shows a family: its label (`unbroken`), and what cannot run here."""
    shown = unbroken(label)
    return f"{shown} ({' and '.join(unavailable)} unavailable here)" if unavailable else shown


def unavailable_notice(unavailable: dict[str, dict[str, str]]) -> str:
    """One line per family whose encoder cannot be loaded here: why, what fixes it, what still answers.
    A Hub id or path in it is never broken across lines at its slashes and hyphens (a visitor copies it)."""
    def unbroken(text: str) -> str:
        return re.sub(r"\S*[/-]\S*", lambda found: f"<span class='unbroken'>{escape(found[0])}</span>", text)

    lines = []
    for label, reasons in unavailable.items():
        label, reasons = unbroken(label), {modality: unbroken(why) for modality, why in reasons.items()}
        if len(reasons) == 1:
            (modality, why), = reasons.items()
            other = "overview" if modality == "poster" else "poster"
            lines.append(f"**{label}:** its {modality} model is unavailable here: {why}. Its {other} model answers, "
                         f"and its fusion model reads the {other} alone.")
        elif reasons:
            lines.append(f"**{label}:** unavailable here: {'; '.join(reasons.values())}.")
    return "\n\n".join(lines)


# Enter in the overview predicts (Shift+Enter is a new line), as a visitor expects from a search box.
KEYS = """() => {
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.target.closest && event.target.closest('#overview')) {
      event.preventDefault();
      document.getElementById('predict').click();
    }
  });
}"""
CSS = COMPARE_CSS + EXPLAIN_CSS + """
.fits table, .wide table { font-variant-numeric: tabular-nums; }
.fits th, .fits td, .wide th, .wide td { white-space: nowrap; word-break: normal; overflow-wrap: normal; hyphens: none; }
.fits th, .fits td:first-child { white-space: normal; }  /* headers and names wrap between words, figures never */
.wide table { display: block; overflow-x: auto; max-width: 100%; }
label[data-testid="block-label"].float { position: static; }  /* an image's label above it, not over it */
#poster.block { display: flex; flex-flow: column nowrap; }  /* ...so the image and its source strip share what is left */
#poster .image-container { flex: 1 1 auto; min-height: 0; }
#poster label[data-testid="block-label"] { align-self: flex-start; }
#unavailable .unbroken { white-space: nowrap; }
#comparison-table { padding: 0; }
#comparison-table table { max-width: 760px; }
@media (max-width: 520px) { .fits th, .fits td { padding: 4px 5px !important; font-size: 13px; } }
"""
