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
from html import escape

import gradio as gr
from PIL import Image

from genre_hf.app.answer import read_poster, unreadable
from genre_hf.app.guard import cut_overview, release_memory
from genre_hf.app.labels import unbroken
from genre_hf.inference.explain import CAM_MODELS, WORD_MODELS, pick_genre, to_jsonable

TOP = "Top genre"  # the dropdown's default: the fusion model's top genre for the movie
TABLE_GENRES = 6  # genres in the modality chart and table, most likely first
SOURCES = ("poster", "overview")
CHART_SCALE = 0.05  # the chart's half-bar is at least this many probability points, so tiny changes look tiny
EMPTY = {"genre": None, "top_genre": None, "titles": {}, "probabilities": {}, "heat_maps": {}, "word_scores": {}, "modalities": [], "notes": []}
INTRO = """Why does each model say what it says? **Poster:** Grad-CAM, where on the poster the model's evidence
for the genre is (red hot, blue cold). **Overview:** each word removed in turn; red words speak *for* the genre
(without them its probability drops), purple words *against* it. **Both:** what the poster and the overview each
add to the fusion model's probability. API: `client.predict(poster, overview, genre, api_name="/explain")`."""


def explain_answer(classifier, poster, overview: str | None, genre: str | None = None, unavailable: dict[str, str] | None = None) -> dict:
    """`classifier.explain` for one movie as JSON-able data (heat maps as lists, overlays as base64
    PNG, word scores as [word, score] lists; see `genre_hf.inference.explain`), plus `errors`.

    An unreadable poster is ignored (and said so) when there is an overview to explain, and so is an
    input whose encoder cannot run here (`unavailable`, as for `answer.api_answer`); no input, or an
    unknown genre, gives only `errors`.
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
    given, unread = unreadable({"poster": poster is not None, "overview": overview is not None}, unavailable or {})
    poster, overview = (poster if given["poster"] else None), (overview if given["overview"] else None)
    if poster is None and overview is None:
        return {**EMPTY, "errors": errors + unread}
    answer = to_jsonable(classifier.explain(poster, overview, genre))
    return {**answer, "notes": [*answer["notes"], *unread, *cut], "errors": errors}


def add_explain_section(classifiers: dict, family: gr.components.Component, poster: gr.components.Component,
                        overview: gr.components.Component, unavailable: dict[str, dict[str, str]] | None = None) -> None:
    """The Explain section, inside the page's current Blocks context, reading the page's own
    `poster`, `overview` and model `family` inputs; serves `/explain`. `unavailable`: per family,
    the inputs its encoders cannot read here (see `page.build_demo`). A new movie, Clear or another
    family empties the section: it never shows one movie's explanation beside another's answers."""
    unavailable = unavailable or {}
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
        chart = gr.HTML(elem_id="explain-chart")
        with gr.Accordion("Explanation API answer (JSON)", open=False):
            answer = gr.JSON(show_label=False)
    outputs = [status, *heat_maps, *words, legend, summary, chart]

    def explain(poster, overview, genre, family=labels[0]):
        if family not in classifiers:
            raise gr.Error(f"no model family {family!r}; this app has {labels}")
        try:
            return explain_answer(classifiers[family], poster, overview, genre, unavailable.get(family))
        finally:
            release_memory()

    asked = [button.click(explain, [poster, overview, genre, family], answer, api_name="explain"),
             genre.input(explain, [poster, overview, genre, family], answer, api_visibility="private")]
    for event in asked:
        event.success(explain_values, answer, outputs, api_visibility="private")
    # A new movie (an example, an upload, a typed word, Clear) or another family: the section empties and
    # the genre goes back to the top genre, in the browser (no request); an explanation still running is dropped.
    blank = [json.dumps(TOP), '""', *["null"] * (len(heat_maps) + len(words)), '""', '""', '""', "null"]
    gr.on([poster.change, overview.change, family.change], fn=None, js=f"() => [{', '.join(blank)}]",
          outputs=[genre, *outputs, answer], cancels=asked)


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
        # A quoted word is one unit: "hard-to-please" never breaks at its hyphens on a phone.
        pros = ", ".join(f"{unbroken(word)} {score:+.3f}" for word, score in ranked[:3] if round(score, 3) > 0) or "none"  # never "+0.000"
        cons = ", ".join(f"{unbroken(word)} {score:+.3f}" for word, score in reversed(ranked[-3:]) if round(score, 3) < 0) or "none"
        lines.append(f"- **{unbroken(entry['title'])}** ({entry['probability']:.0%}): for: {pros} · against: {cons}")
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


def modality_chart(rows: list[dict]) -> str:
    """What the poster and the overview add to the fusion model's probability, as bars either side of
    zero, a row per top genre (most likely first). HTML: its genre names and figures wrap and scale
    with the page, so it reads on a phone as on a laptop."""
    if not rows:
        return ""
    rows = rows[:TABLE_GENRES]
    scale = max(CHART_SCALE, *(abs(row[f"{source}_adds"]) for row in rows for source in SOURCES))
    body = []
    for row in rows:
        tracks, figures = [], []
        for source in SOURCES:
            added = row[f"{source}_adds"]
            side = "left" if added >= 0 else "right"
            tracks.append(f"<div class='track'><span class='bar {source}' style='{side}: 50%; width: {50 * abs(added) / scale:.1f}%'></span></div>")
            figures.append(f"<span class='{source}'>{round(added, 2) or 0.0:+.2f}</span>")  # never "-0.00"
        body.append(f"<tr><th scope='row'>{escape(row['genre'])}</th><td class='bars'>{''.join(tracks)}</td>"
                    f"<td class='figures'>{'<br>'.join(figures)}</td></tr>")
    return (
        "<p class='chart-title'><b>What each input adds to the fusion model's probability</b> (probability points; "
        f"<span class='key poster'></span> poster, <span class='key overview'></span> overview; a half-bar is {scale:.2f})</p>"
        "<table class='adds-chart'><tbody>" + "".join(body) + "</tbody></table>"
    )


CSS = """
#explain-chart .adds-chart { width: 100%; max-width: 760px; border-collapse: collapse; font-variant-numeric: tabular-nums; }
#explain-chart .adds-chart th, #explain-chart .adds-chart td { padding: 4px 6px; border-bottom: 1px solid var(--border-color-primary);
  vertical-align: middle; white-space: nowrap; text-align: left; font-size: var(--text-sm); }
#explain-chart td.bars { width: 100%; }
#explain-chart .track { position: relative; height: 9px; margin: 3px 0; }
#explain-chart .track::before { content: ""; position: absolute; left: 50%; top: -3px; bottom: -3px; border-left: 1px solid var(--body-text-color-subdued); }
#explain-chart .bar { position: absolute; top: 0; bottom: 0; }
#explain-chart .poster { color: #b45309; } #explain-chart .overview { color: #1d4ed8; }
#explain-chart .bar.poster, #explain-chart .key.poster { background: #f59e0b; }
#explain-chart .bar.overview, #explain-chart .key.overview { background: #3b82f6; }
#explain-chart .key { display: inline-block; width: 0.8em; height: 0.8em; vertical-align: baseline; }
"""
