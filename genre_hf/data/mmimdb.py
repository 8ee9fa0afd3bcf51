"""The MM-IMDb release layout (Arevalo et al. 2017), read into the loader's rows.

    split.json            {"train": [ids], "dev": [ids], "test": [ids]}
    dataset/<id>.json     {"plot": [several plots], "genres": [...], ...}
    dataset/<id>.jpeg     the poster

Each movie has several plots; like the paper's own code (johnarevalo/gmu-mmimdb, `make_dataset.py`:
the plot of most characters) we keep the longest by default. The official split is kept, with `dev`
as the validation split; movies listed in no split are not read. Bad rows (no plot, no genre, no
poster) are left to the loader, which skips and counts them like any other source's.
"""

from __future__ import annotations

from pathlib import Path

from genre_hf import reading
from genre_hf.data.cleaning import safe_id

SPLIT_FILE = "split.json"
MOVIES_DIR = "dataset"
SPLITS = {"train": "train", "dev": "validation", "test": "test"}  # official name -> ours
PLOT_CHOICES = {
    "longest": lambda plots: max(plots, key=len),  # as make_dataset.py (argmax of the lengths; first on ties)
    "first": lambda plots: plots[0],
}
DEFAULT_PLOT = "longest"
MAX_SPLIT_BYTES = 64 * reading.MB  # the release's lists 25,959 ids in 330 kB
MAX_MOVIE_BYTES = 4 * reading.MB  # the release's largest movie file has about 100 kB


def is_release(folder: Path) -> bool:
    return folder.is_dir() and (folder / SPLIT_FILE).is_file() and (folder / MOVIES_DIR).is_dir()


def plot_note(plot: str = DEFAULT_PLOT) -> str:
    """What the loader says about the plot it keeps (in the load report)."""
    return f"MM-IMDb: each movie's {plot} plot is its overview (as johnarevalo/gmu-mmimdb make_dataset.py does)"


def read_split_ids(folder: Path) -> dict[str, list[str]]:
    """Our split name -> the ids split.json lists; a clear error for a split file that is not the release's."""
    path = folder / SPLIT_FILE
    given = reading.read_json(path, MAX_SPLIT_BYTES, kind=None)
    if not isinstance(given, dict) or not set(SPLITS) & set(given) or not all(isinstance(given.get(name, []), list) for name in SPLITS):
        raise ValueError(f"{path} must be a JSON object with {sorted(SPLITS)} id lists")
    return {ours: [str(movie_id) for movie_id in given[name] if isinstance(movie_id, (str, int))] for name, ours in SPLITS.items() if name in given}


def records(folder: Path, ids: list[str], plot: str = DEFAULT_PLOT):
    """The movies of `ids` as loader rows (poster by path, not read)."""
    choose = PLOT_CHOICES[plot]
    for movie_id in ids:
        if not safe_id(movie_id):  # "../x" names no file of the release: a row with nothing in it (skipped and counted)
            yield {"id": movie_id, "overview": "", "genres": [], "poster": {"path": str(folder / MOVIES_DIR), "bytes": None}}
            continue
        meta = _read_movie(folder / MOVIES_DIR / f"{movie_id}.json")
        plots = meta.get("plot")
        plots = [plots] if isinstance(plots, str) else [text for text in plots or [] if isinstance(text, str)]
        yield {
            "id": movie_id,
            "overview": choose(plots) if plots else "",
            "genres": meta.get("genres") or [],
            "poster": {"path": str(folder / MOVIES_DIR / f"{movie_id}.jpeg"), "bytes": None},
        }


def _read_movie(path: Path) -> dict:
    """A movie's JSON; a missing or unreadable one is a row with nothing in it (skipped and counted)."""
    try:
        return reading.read_json(path, MAX_MOVIE_BYTES)
    except reading.ReadError:
        return {}
