"""The page's comparison: which genres each model lists for a movie, how sure it is in words, and
where the models agree, as one table a visitor reads without a footnote.

A genre a model lists carries that model's calibrated probability and a word for it (`certainty`);
a genre it does not list shows only the probability, greyed. The word always agrees with the
listing: each model lists a genre when its probability passes that model's threshold for the genre
(tuned per genre on the validation split, below 30 % for some), so a listed genre is at least
"possible" and never "a long shot", and an unlisted one is greyed, "not listed", however likely. The
verdict above the table groups the genres by which models list them ("All three: Drama · Poster only: Horror").
"""

from __future__ import annotations

from html import escape

from genre_hf.modeling import MODEL_NAMES

# A listed genre's calibrated probability -> the word a visitor reads ("70 %" is right about 70 % of the time).
# The last floor is 0: whatever its probability, a genre the model lists is one it calls possible.
CERTAINTY = ((0.75, "very likely"), (0.5, "likely"), (0.0, "possible"))
NOT_LISTED = "not listed"
SHORT = {"poster": "Poster", "overview": "Overview", "fusion": "Fusion"}  # column headers that fit a phone
ROWS = 8  # genres in the table at most: every listed genre first, then the most likely others


def certainty(probability: float, listed: bool) -> str:
    """How sure a model is of a genre, in words that agree with whether it lists it: "very likely",
    "likely" or "possible" for a listed genre, "not listed" for the others."""
    return next(word for floor, word in CERTAINTY if probability >= floor) if listed else NOT_LISTED


def ran(result: dict) -> list[str]:
    """The models that answered (the others lacked an input)."""
    return [name for name in MODEL_NAMES if "probabilities" in result[name]]


def verdict(result: dict, names: list[str]) -> str:
    """The genres grouped by which models list them, most agreed first: "All three: Drama · Poster only: Horror"."""
    listed = {genre: tuple(name for name in names if genre in result[name]["genres"]) for name in names for genre in result[name]["genres"]}
    if not listed:
        return "No model lists a genre for this movie."
    groups: dict[tuple, list[str]] = {}
    for genre, by in listed.items():
        groups.setdefault(by, []).append(genre)

    def who(by: tuple) -> str:
        if len(by) == len(names) > 1:
            return "All three" if len(by) == 3 else "Both models"
        if len(by) == 1:
            return f"{SHORT[by[0]]} only" if len(names) > 1 else SHORT[by[0]]
        return " and ".join(SHORT[name] for name in by)

    order = sorted(groups, key=lambda by: (-len(by), [MODEL_NAMES.index(name) for name in by]))
    return " · ".join(f"**{who(by)}:** {', '.join(groups[by])}" for by in order)


def comparison_table(result: dict, truth: list[str] | None = None) -> str:
    """The HTML table: a row per genre (listed ones first, by their best probability), a column per
    model that answered, and the true genres when the movie is an example."""
    names = ran(result)
    if not names:
        return ""
    best = {genre: max(result[name]["probabilities"][genre] for name in names) for genre in result[names[0]]["probabilities"]}
    listed = {genre for name in names for genre in result[name]["genres"]} | {genre for genre in truth or [] if genre in best}
    rows = sorted(listed, key=lambda genre: -best[genre])
    rows += sorted((genre for genre in best if genre not in listed), key=lambda genre: -best[genre])[: max(0, ROWS - len(rows))]
    header = "".join(f"<th scope='col'>{SHORT[name]}</th>" for name in names) + ("<th scope='col'>True</th>" if truth is not None else "")
    body = []
    for genre in rows:
        cells = []
        for name in names:
            probability = result[name]["probabilities"][genre]
            listed = genre in result[name]["genres"]
            word = certainty(probability, listed)
            if listed:
                cells.append(f"<td class='listed'><b>{probability:.0%}</b> <span class='word'>{word}</span></td>")
            else:
                cells.append(f"<td class='unlisted' title='{word}'>{probability:.0%}</td>")
        if truth is not None:
            cells.append(f"<td class='truth'>{'yes' if genre in truth else ''}</td>")
        body.append(f"<tr><th scope='row'>{escape(genre)}</th>{''.join(cells)}</tr>")
    return (
        "<table class='genre-compare'><thead><tr><th scope='col'>Genre</th>" + header + "</tr></thead><tbody>"
        + "".join(body) + "</tbody></table><p class='compare-key'>" + KEY + "</p>"
    )


KEY = ("<b>Bold</b>: the genres a model lists, those whose probability passes that model's threshold for the genre. "
       "Each genre has its own threshold, tuned on the validation movies, so a genre may be listed at a lower probability "
       "than another that is not.")


CSS = """
#comparison table.genre-compare { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
#comparison .genre-compare th, #comparison .genre-compare td { padding: 6px 8px; text-align: left; white-space: nowrap;
  border-bottom: 1px solid var(--border-color-primary); }
#comparison .genre-compare td.listed { background: var(--color-accent-soft); }
#comparison .genre-compare td.unlisted { color: var(--body-text-color-subdued); }
#comparison .genre-compare .word { display: inline-block; }
#comparison .compare-key { max-width: 760px; margin: 6px 0 0; font-size: var(--text-sm); color: var(--body-text-color-subdued); }
@media (max-width: 520px) {
  #comparison .genre-compare th, #comparison .genre-compare td { padding: 4px 4px; font-size: 13px; }
  #comparison .genre-compare .word { display: block; font-size: 12px; }
}
"""
