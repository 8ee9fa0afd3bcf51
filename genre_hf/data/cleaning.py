"""Rows in the loader's one shape, and the rules that drop bad ones (counted by reason, never silently).

Every source ends as rows of `id`, `overview` (str), `genres` (list of str) and `poster` (an
undecoded `Image()` cell). Real data has bad rows (N/A-only genres, truncated posters, empty
overviews): each is skipped and counted in the `LoadReport`, with a few example ids.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from genre_hf.data import MAX_GENRE_CHARS
from genre_hf.data.posters import poster_to_array

NOT_A_GENRE = {"n/a", "", "nan", "none", "null"}  # compared in lower case
MAX_GENRE_CELL = 2_000  # characters in one row's genre cell
MAX_GENRES = 50  # genres in one row (IMDb gives at most three)
IMDB_GENRES = {name.lower(): name for name in (
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama", "Family", "Fantasy",
    "Film-Noir", "Game-Show", "History", "Horror", "Music", "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi",
    "Short", "Sport", "Talk-Show", "Thriller", "War", "Western")}
_QUOTED = re.compile(r"""\s*(['"])((?:\\.|(?!\1)[^\\])*)\1\s*""")
_SEPARATOR = re.compile(r",|$")
POSTER_CHECK_SIZE = 16  # decoding a poster this small still reads all of it
SKIP_REASONS = ("no id", "unsafe id", "duplicate id", "unreadable genres", "no genre", "empty overview", "missing poster",
                "undecodable poster")
FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "overview": datasets.Value("string"),
        "genres": datasets.Sequence(datasets.Value("string")),
        "poster": datasets.Image(decode=False),
    }
)


@dataclass
class ColumnNames:
    """Where the loader finds each field in a non-upstream source."""

    id: str = "id"
    overview: str = "overview"
    genres: str = "genres"
    poster: str = "poster"

    @classmethod
    def parse(cls, text: str | None) -> "ColumnNames":
        """Parse `id=movie_id,overview=plot` (the command-line form)."""
        names = cls()
        for item in filter(None, (text or "").split(",")):
            key, _, value = item.partition("=")
            if key.strip() not in vars(names) or not value.strip():
                raise ValueError(f"bad column mapping {item!r}: use e.g. overview=plot")
            setattr(names, key.strip(), value.strip())
        return names


@dataclass
class LoadReport:
    source: str
    rows_in: int = 0
    rows_kept: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    streamed: bool = False  # rows are counted as they are read (see loader.iter_movies)
    notes: list[str] = field(default_factory=list)  # what the loader chose for this source (e.g. MM-IMDb's plot)
    split_rule: str = ""  # how the splits were made: given by the source, or cut by the id hash

    def skip(self, reason: str, movie_id: str) -> None:
        self.skipped[reason] += 1
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(movie_id)

    def add_counts(self, counts: dict) -> None:
        """Add the rows read and skipped by a pass over a split (e.g. recorded in a feature cache)."""
        self.rows_in += counts.get("rows_in", 0)
        for reason, count in counts.get("skipped", {}).items():
            self.skipped[reason] += count
            examples = self.skipped_examples.setdefault(reason, [])
            examples.extend(counts.get("skipped_examples", {}).get(reason, [])[: 5 - len(examples)])

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "skipped": dict(self.skipped),
            "skipped_examples": self.skipped_examples,
            "notes": self.notes,
            "split_rule": self.split_rule,
        }

    def __str__(self) -> str:
        if self.streamed and not self.rows_in:
            return f"Streaming movies from {self.source} (rows are cleaned and counted as they are read)"
        kept = sum(self.rows_kept.values())
        splits = ", ".join(f"{name} {n:,}" for name, n in self.rows_kept.items())
        lines = [f"Loaded {kept:,} of {self.rows_in:,} movies from {self.source} ({splits})", *self.notes]
        if self.skipped:
            lines.append(f"Skipped {sum(self.skipped.values()):,}:")
            for reason in SKIP_REASONS:
                if self.skipped[reason]:
                    examples = ", ".join(self.skipped_examples[reason])
                    lines.append(f"  {reason}: {self.skipped[reason]:,} (e.g. {examples})")
        return "\n".join(lines)


def parse_genres(value) -> list[str] | None:
    """Genres as a clean list, each spelt one way, or None for a cell that cannot be read.

    A cell may be a list, a Python-style or JSON list ("['Comedy', 'Drama']", '["Comedy"]'), or text
    separated by "|" or "," ("Comedy|Drama", "Comedy, Drama"). "ACTION" and "action" are "Action"
    (IMDb's own spelling for its genres; others in title case). Not-a-genre values ("N/A", "")
    are dropped, repeats kept once. Nothing is evaluated: a list is read as flat quoted strings, and
    a cell over MAX_GENRE_CELL characters, with over MAX_GENRES genres, or a genre over
    MAX_GENRE_CHARS, nested or not text is unreadable (None: the row is skipped and counted).
    """
    if value is None:
        return []
    if isinstance(value, str):
        if len(value) > MAX_GENRE_CELL:
            return None
        items = _genre_text(value)
    elif isinstance(value, (list, tuple)):
        items = list(value) if all(isinstance(item, str) for item in value) else None
    else:
        return None
    if items is None or len(items) > MAX_GENRES:
        return None
    cleaned = []
    for item in items:
        genre = " ".join(item.split())
        if len(genre) > MAX_GENRE_CHARS:
            return None
        if genre.lower() in NOT_A_GENRE:
            continue
        genre = spelling(genre)
        if genre not in cleaned:
            cleaned.append(genre)
    return cleaned


def spelling(genre: str) -> str:
    """One spelling per genre: IMDb's for its own genres ("sci-fi" -> "Sci-Fi"), else title case."""
    return IMDB_GENRES.get(genre.lower()) or "-".join(part[:1].upper() + part[1:].lower() for part in genre.split("-"))


def _genre_text(text: str) -> list[str] | None:
    stripped = text.strip()
    if stripped.startswith("["):
        return _flat_list(stripped)
    return [part for part in re.split(r"[|,]", stripped)]


def _flat_list(text: str) -> list[str] | None:
    """The items of a one-level list of quoted strings (Python or JSON quoting), or None."""
    if not text.endswith("]"):
        return None
    inner = text[1:-1].strip()
    if not inner:
        return []
    items, position = [], 0
    while position < len(inner):
        match = _QUOTED.match(inner, position)
        if not match:
            return None
        body = match.group(2)
        items.append(body.replace("\\" + match.group(1), match.group(1)).replace("\\\\", "\\"))
        position = match.end()
        separator = _SEPARATOR.match(inner, position)
        if separator is None:
            return None
        position = separator.end()
    return items


def rows_dataset(records) -> datasets.Dataset:
    """Loader rows (from a folder layout) as a Dataset, their genres cleaned."""
    rows = {"id": [], "overview": [], "genres": [], "poster": []}
    for record in records:
        for key, value in {**record, "genres": parse_genres(record["genres"])}.items():
            rows[key].append(value)
    return datasets.Dataset.from_dict(rows, features=FEATURES)


def canonical_columns(split, columns: ColumnNames):
    """A source's own columns (a Dataset or a streamed IterableDataset) as the loader's rows."""
    wanted = vars(columns)
    check_columns(column_names(split), list(wanted.values()))
    check_column_types(split.features, columns)
    # Posters stay undecoded from the start: a streamed dataset decodes them in every later step otherwise.
    split = split.cast_column(columns.poster, datasets.Image(decode=False))
    split = split.select_columns(list(wanted.values()))
    split = split.rename_columns({v: k for k, v in wanted.items() if k != v})

    def canonical(batch):
        return {
            "id": [str(value) for value in batch["id"]],
            "overview": [value or "" for value in batch["overview"]],
            "genres": [parse_genres(value) for value in batch["genres"]],
        }

    return split.map(canonical, batched=True, features=FEATURES)


def check_column_types(features, columns: ColumnNames) -> None:
    """A ValueError naming a column whose type the loader cannot read (a Parquet file's or a Hub
    dataset's; a stream that does not know its types yet is checked as it is read)."""
    if not features:
        return
    text = ("string", "large_string")
    allowed = {
        columns.id: (lambda f: isinstance(f, datasets.Value) and (f.dtype in text or "int" in f.dtype), "text or whole numbers"),
        columns.overview: (lambda f: isinstance(f, datasets.Value) and f.dtype in text, "text"),
        columns.genres: (lambda f: (isinstance(f, datasets.Value) and f.dtype in text)
                         or (isinstance(f, (datasets.Sequence, datasets.LargeList, list))
                             and _is_text(f.feature if not isinstance(f, list) else f[0])), "text or lists of text"),
        columns.poster: (lambda f: isinstance(f, datasets.Image) or (isinstance(f, datasets.Value) and f.dtype in (*text, "binary", "large_binary"))
                         or (isinstance(f, dict) and {"bytes", "path"} & set(f)), "images, image bytes or paths"),
    }
    for name, (fits, expected) in allowed.items():
        feature = features.get(name)
        if feature is not None and not fits(feature):
            raise ValueError(f"the data's column {name!r} holds {_type_name(feature)}; it must hold {expected}")


def _is_text(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _type_name(feature) -> str:
    if isinstance(feature, datasets.Value):
        return feature.dtype
    inner = getattr(feature, "feature", None)
    return f"lists of {_type_name(inner)}" if inner is not None else type(feature).__name__


def column_names(split) -> list[str]:
    """A Dataset's or a streamed IterableDataset's columns (the latter may only know its features)."""
    return split.column_names if split.column_names is not None else list(split.features or {})


def check_columns(present: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in present]
    if missing:
        raise ValueError(
            f"the data has no column(s) {missing}; it has {present}. Map them with e.g. --columns overview=plot,poster=image"
        )


def clean(split: datasets.Dataset, report: LoadReport, seen_ids: set[str], decode: bool = True) -> datasets.Dataset:
    """The rows of `split` without a problem (see `problem`); the others are counted in `report`."""
    keep = []
    for index, row in enumerate(split):
        reason = problem(row, seen_ids, decode)
        if reason:
            report.skip(reason, row["id"])
        else:
            keep.append(index)
        seen_ids.add(row["id"])
    return split.select(keep)


def safe_id(movie_id: str) -> bool:
    """Whether an id can name a file in a poster folder: no path separator, not "." or "..", not empty."""
    return bool(movie_id) and movie_id not in (".", "..") and not set(movie_id) & {"/", "\\", "\0"}


def problem(row: dict, seen_ids: set[str], decode: bool = True) -> str | None:
    """Why a row cannot be used (one of SKIP_REASONS), or None. Without `decode` the poster is only
    checked for presence (a streamed pass: the featurizer decodes and counts the bad ones)."""
    movie_id = row["id"]
    if not movie_id or not movie_id.strip():
        return "no id"
    if not safe_id(movie_id):
        return "unsafe id"  # it would name a path outside the poster folder
    if movie_id in seen_ids:
        return "duplicate id"
    if row["genres"] is None:
        return "unreadable genres"
    if not row["genres"]:
        return "no genre"
    if not row["overview"].strip():
        return "empty overview"
    poster = row["poster"] or {}
    data, path = poster.get("bytes"), poster.get("path")
    if data is None and not (path and Path(path).is_file()):
        return "missing poster"
    if not decode:
        return None
    try:  # the decoder training uses, so a kept poster is one training can read (truncated, too costly...)
        poster_to_array(poster, POSTER_CHECK_SIZE)
    except ValueError:
        return "undecodable poster"
    return None
