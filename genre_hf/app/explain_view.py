"""The Space's "Explain" section and its `/explain` API answer.

`add_explain_section` puts the section on the page, wired to the page's own poster and overview
inputs; it runs only when asked (its button, or picking a genre), so `/predict` costs what it did.
`explain_answer` is the `/explain` API answer: JSON-able, and, like `/predict`'s, it lists input
problems in `errors` instead of failing. The explanations themselves are `genre_hf.inference.explain`.
"""

from __future__ import annotations

import base64
import io
import json

import gradio as gr
import pandas as pd
from PIL import Image

from genre_hf.app.answer import read_poster
from genre_hf.app.guard import cut_overview, release_memory
from genre_hf.inference.explain import CAM_MODELS, WORD_MODELS, pick_genre, to_jsonable

TOP = "Top genre"  # the dropdown's default: the fusion model's top genre for the movie
TABLE_GENRES = 6  # genres in the modality chart and table, most likely first
EMPTY = {"genre": None, "top_genre": None, "titles": {}, "probabilities": {}, "heat_maps": {}, "word_scores": {}, "modalities": [], "notes": []}
INTRO = """Why does each model say what it says? **Poster:** Grad-CAM, where on the poster the model's evidence
for the genre is (red hot, blue cold). **Overview:** each word removed in turn; red words speak *for* the genre
(without them its probability drops), purple words *against* it. **Both:** what the poster and the overview each
add to the fusion model's probability. API: `client.predict(poster, overview, genre, api_name="/explain")`."""


def explain_answer(classifier, poster, overview: str | None, genre: str | None = None) -> dict:
    """`classifier.explain` for one movie as JSON-able data (heat maps as lists, overlays as base64
    PNG, word scores as [word, score] lists; see `genre_hf.inference.explain`), plus `errors`.

    An unreadable poster is ignored (and said so) when there is an overview to explain; no input,
    or an unknown genre, gives only `errors`.
    """
    errors = []
    overview, cut = cut_overview(overview if isinstance(overview, str) and overview.strip() else None)
    genre = None if genre in (None, "", TOP) else genre
    if genre is not None:
        try:
            genre = pick_genre(genre, classifier.genres)
        except ValueError as error:
            return {**EMPTY, "errors": [f"{error}."]}
    if poster is not None:
        image, problem = read_poster(poster, classifier.featurizer.image_size)
        if problem:
            errors.append(problem)
            poster = None
    if poster is None and overview is None:
        return {**EMPTY, "errors": errors or ["Give a poster, an overview or both."]}
    answer = to_jsonable(classifier.explain(poster, overview, genre))
    return {**answer, "notes": [*answer["notes"], *cut], "errors": errors}


def add_explain_section(classifiers: dict, family: gr.components.Component, poster: gr.components.Component,
                        overview: gr.components.Component) -> None:
    """The Explain section, inside the page's current Blocks context, reading the page's own
    `poster`, `overview` and model `family` inputs; serves `/explain`."""
    labels = list(classifiers)
    classifier = classifiers[labels[0]]
    titles = classifier.titles
    with gr.Accordion("Explain: why each model says what it says", open=False, elem_id="explain"):
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            genre = gr.Dropdown(  # a typed genre reaches explain_answer, whose error for an unknown one lists the genres
                [TOP, *classifier.genres], value=TOP, label="Genre to explain", allow_custom_value=True,
                elem_id="explain-genre", scale=3,
            )
            button = gr.Button("Explain", variant="secondary", elem_id="explain-button", scale=1)
        status = gr.Markdown(elem_id="explain-status")
        with gr.Row():
            heat_maps = []
            for name in CAM_MODELS:
                with gr.Column():
                    gr.Markdown(f"**{titles[name]}: Grad-CAM**")  # a title above the map, not a badge over it
                    heat_maps.append(gr.Image(label=f"{titles[name]}: Grad-CAM", show_label=False, type="pil", format="png",
                                              interactive=False, height=340, elem_id=f"explain-heat-{name}", buttons=[]))
        with gr.Row():
            words = [
                gr.HighlightedText(label=f"{titles[name]}: word evidence", show_legend=True, elem_id=f"explain-words-{name}")
                for name in WORD_MODELS
            ]
        legend = gr.Markdown(elem_id="explain-legend")
        summary = gr.Markdown(elem_id="explain-modalities", elem_classes=["wide"])  # six columns: sideways on a phone
        chart = gr.BarPlot(
            x="bar", y="added", color="input", title="What each input adds to the fusion model's probability",
            y_title="probability added", x_title=" ", x_label_angle=-30, height=300, elem_id="explain-chart",
            color_map={"poster": "#f59e0b", "overview": "#3b82f6"},
        )
        with gr.Accordion("Explanation API answer (JSON)", open=False):
            answer = gr.JSON(show_label=False)
    outputs = [status, *heat_maps, *words, legend, summary, chart]

    def explain(poster, overview, genre, family=labels[0]):
        if family not in classifiers:
            raise gr.Error(f"no model family {family!r}; this app has {labels}")
        try:
            return explain_answer(classifiers[family], poster, overview, genre)
        finally:
            release_memory()

    button.click(explain, [poster, overview, genre, family], answer, api_name="explain").success(explain_values, answer, outputs, api_visibility="private")
    genre.input(explain, [poster, overview, genre, family], answer, api_visibility="private").success(
        explain_values, answer, outputs, api_visibility="private"
    )
    # A new movie (or another model family) is explained for its own top genre (in the browser, no request).
    gr.on([poster.change, overview.change, family.change], fn=None, js=f"() => {json.dumps(TOP)}", outputs=genre)


def explain_values(answer: dict) -> list:
    """The section's view of an `/explain` answer: status, overlays, highlighted words, legend,
    modality summary and chart."""
    for error in answer["errors"]:
        gr.Warning(error)
    status = [f"**Warning:** {error}" for error in answer["errors"]] + [f"**Note:** {note}" for note in answer["notes"]]
    if answer["genre"]:
        why = "the fusion model's top genre" if answer["genre"] == answer["top_genre"] else f"top genre: {answer['top_genre']}"
        chances = " · ".join(f"{answer['titles'][name]} {p:.0%}" for name, p in answer["probabilities"].items())
        status.insert(0, f"Explaining **{answer['genre']}** ({why}). Its probability: {chances}.")
    heat_maps = [_image(answer["heat_maps"].get(name)) for name in CAM_MODELS]
    words = [
        gr.HighlightedText(highlighted(answer["word_scores"][name]["words"]), label=f"{answer['word_scores'][name]['title']}: word evidence")
        if name in answer["word_scores"] else None
        for name in WORD_MODELS
    ]
    return [
        "\n\n".join(status),
        *heat_maps,
        *words,
        word_legend(answer),
        modality_summary(answer["modalities"]),
        modality_chart(answer["modalities"]),
    ]


def _image(entry: dict | None):
    if not entry:
        return None
    return gr.Image(Image.open(io.BytesIO(base64.b64decode(entry["overlay_png"]))), label=f"{entry['title']}: Grad-CAM")


def highlighted(pairs: list) -> list[tuple[str, float | None]]:
    """(word, score) pairs as HighlightedText's scores mode wants them: scaled to [-1, 1] by the
    strongest word, with unscored spaces between the words."""
    strongest = max((abs(score) for _, score in pairs if score is not None), default=0.0) or 1.0
    tokens = []
    for position, (word, score) in enumerate(pairs):
        if position:
            tokens.append((" ", None))
        tokens.append((word, None if score is None else round(score / strongest, 3)))
    return tokens


def word_legend(answer: dict) -> str:
    """What the colours mean, and each model's strongest words with their real scores."""
    if not answer["word_scores"]:
        return ""
    genre = answer["genre"]
    lines = [
        f"**Red:** the word is evidence *for* {genre} (removing it lowers the probability); **purple:** evidence "
        "*against* it. The shade is relative to the model's strongest word (the colour scale's ±1); scores below "
        "are calibrated probability points."
    ]
    for entry in answer["word_scores"].values():
        scored = [(word, score) for word, score in entry["words"] if score is not None]
        ranked = sorted(scored, key=lambda pair: -pair[1])
        pros = ", ".join(f"{word} {score:+.3f}" for word, score in ranked[:3] if score > 0) or "none"
        cons = ", ".join(f"{word} {score:+.3f}" for word, score in reversed(ranked[-3:]) if score < 0) or "none"
        lines.append(f"- **{entry['title']}** ({entry['probability']:.0%}): for: {pros} · against: {cons}")
    return "\n".join(lines)


def modality_summary(rows: list[dict]) -> str:
    """"The poster added +0.21 to Horror, the overview +0.35 to Drama", what each took away most,
    then the table of the top genres."""
    if not rows:
        return "_What each input adds to the fusion model needs both a poster and an overview._"

    def most(source: str, sign: int) -> dict:
        return max(rows, key=lambda row: sign * row[f"{source}_adds"])

    added = {source: most(source, 1) for source in ("poster", "overview")}
    taken = {source: most(source, -1) for source in ("poster", "overview")}
    lines = [
        f"**The poster added {added['poster']['poster_adds']:+.2f} to {added['poster']['genre']}, the overview "
        f"{added['overview']['overview_adds']:+.2f} to {added['overview']['genre']}**; most taken away: "
        f"the poster {taken['poster']['poster_adds']:+.2f} from {taken['poster']['genre']}, the overview "
        f"{taken['overview']['overview_adds']:+.2f} from {taken['overview']['genre']} (fusion model, probability points).",
        "",
        "| Genre | both | poster blanked | overview blanked | poster adds | overview adds |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows[:TABLE_GENRES]:
        lines.append(
            f"| {row['genre']} | {row['both']:.0%} | {row['poster_blanked']:.0%} | {row['overview_blanked']:.0%} "
            f"| {row['poster_adds']:+.2f} | {row['overview_adds']:+.2f} |"
        )
    return "\n".join(lines)


def modality_chart(rows: list[dict]):
    """The bar chart of what the poster and the overview add, two bars per top genre, most likely
    genre first."""
    records = [
        {"bar": f"{row['genre']} ({source})", "input": source, "added": round(row[f"{source}_adds"], 4)}
        for row in rows[:TABLE_GENRES]
        for source in ("poster", "overview")
    ]
    return gr.BarPlot(pd.DataFrame(records, columns=["bar", "input", "added"]), sort=[record["bar"] for record in records], x_title=" ")
