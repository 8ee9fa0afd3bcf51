"""The app's answer for one movie: what each model says, shaped for the `/predict` API.

Kept apart from the page (page.py) so the API's contract changes only when this file does.
"""

from __future__ import annotations

from pathlib import Path

from genre_hf.app.guard import cut_overview
from genre_hf.data.posters import poster_to_array
from genre_hf.modeling import MODEL_INPUTS, MODEL_NAMES

NEEDS = {"poster": "a poster", "overview": "an overview"}


def read_poster(poster, size: int) -> tuple:
    """(the poster decoded at `size`, None), or (None, why it is ignored) for an unreadable one,
    naming an uploaded file as its user knows it, not by its path in the server's cache."""
    try:
        return poster_to_array(poster, size), None
    except ValueError as error:
        message = str(error)
        if isinstance(poster, (str, Path)):
            message = message.replace(str(poster), Path(poster).name)
        return None, f"Poster ignored: {message}."


def api_answer(classifier, poster, overview: str | None) -> dict:
    """What each model says about one movie.

    `{"poster" | "overview" | "fusion": predict()'s entry, or {"needs": [...], "message": "Needs ..."},
    "errors": [...], "notes": [...]}`. A missing or unreadable input only silences the models that
    need it, so one bad input never hides what the other models can say.
    """
    errors = []
    overview, cut = cut_overview(overview if isinstance(overview, str) and overview.strip() else None)
    image = None
    if poster is not None:
        image, problem = read_poster(poster, classifier.featurizer.image_size)
        errors += [problem] if problem else []
    if image is None and overview is None and not errors:
        errors.append("Give a poster, an overview or both.")
    answers = classifier.predict(poster=image, overview=overview) if image is not None or overview else {}
    given = {"poster": image is not None, "overview": overview is not None}
    needs = dict(NEEDS, poster="a readable poster") if poster is not None and image is None else NEEDS
    result, notes = {}, []
    for name in MODEL_NAMES:
        if name in answers:
            result[name] = dict(answers[name])
            notes += [note for note in answers[name]["notes"] if note not in notes]
        else:
            missing = [need for need in MODEL_INPUTS[name] if not given[need]] if name != "fusion" else ["poster", "overview"]
            result[name] = {"needs": missing, "message": "Needs " + " or ".join(needs[need] for need in missing)}
    return {**result, "errors": errors, "notes": notes + cut}
