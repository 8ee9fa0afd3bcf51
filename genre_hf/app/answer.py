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


def unreadable(given: dict[str, bool], unavailable: dict[str, str]) -> tuple[dict[str, bool], list[str]]:
    """The inputs the models may read (a given input whose encoder cannot run here is not), and a note
    for each given input left unread."""
    dropped = [modality for modality, present in given.items() if present and modality in unavailable]
    notes = [f"The {modality} was not read: this family's {modality} encoder cannot be loaded here." for modality in dropped]
    return {modality: present and modality not in dropped for modality, present in given.items()}, notes


def api_answer(classifier, poster, overview: str | None, unavailable: dict[str, str] | None = None) -> dict:
    """What each model says about one movie.

    `{"poster" | "overview" | "fusion": predict()'s entry, or {"needs": [...], "message": "Needs ..."},
    or {"unavailable": why, "message": "Unavailable here: ..."}, "errors": [...], "notes": [...]}`.
    A missing or unreadable input only silences the models that need it, so one bad input never hides
    what the other models can say. `unavailable`: {modality: why} for inputs whose encoder cannot run
    here (`GenreClassifier.unavailable_inputs`, asked once at start): such an input is not read, the
    model that reads only it says why, and the others answer from what is left.
    """
    errors = []
    overview, cut = cut_overview(overview if isinstance(overview, str) and overview.strip() else None)
    image = None
    if poster is not None:
        image, problem = read_poster(poster, classifier.featurizer.image_size)
        errors += [problem] if problem else []
    if image is None and overview is None and not errors:
        errors.append("Give a poster, an overview or both.")
    unavailable = unavailable or {}
    given, notes = unreadable({"poster": image is not None, "overview": overview is not None}, unavailable)
    image, overview = (image if given["poster"] else None), (overview if given["overview"] else None)
    answers = classifier.predict(poster=image, overview=overview) if image is not None or overview else {}
    needs = dict(NEEDS, poster="a readable poster") if poster is not None and image is None else NEEDS
    result = {}
    for name in MODEL_NAMES:
        readable = [need for need in MODEL_INPUTS[name] if need not in unavailable]
        if name in answers:
            result[name] = dict(answers[name])
            notes += [note for note in answers[name]["notes"] if note not in notes]
        elif not readable:
            why = "; ".join(unavailable[need] for need in MODEL_INPUTS[name])
            encoders = " and ".join(MODEL_INPUTS[name]) + (" encoders" if len(MODEL_INPUTS[name]) > 1 else " encoder")
            result[name] = {"unavailable": why, "message": f"Unavailable here: its {encoders} cannot be loaded"}
        else:
            missing = [need for need in readable if not given[need]] if name != "fusion" else readable
            result[name] = {"needs": missing, "message": "Needs " + " or ".join(needs[need] for need in missing)}
    return {**result, "errors": errors, "notes": notes + cut}
