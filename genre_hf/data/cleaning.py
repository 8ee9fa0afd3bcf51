"""Rows in the loader's one shape, and the rules that drop bad ones (counted by reason, never silently).

Every source ends as rows of `id`, `overview` (str), `genres` (list of str) and `poster` (an
undecoded `Image()` cell). Real data has bad rows (N/A-only genres, truncated posters, empty
overviews): each is skipped and counted in the `LoadReport`, with a few example ids.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from genre_hf.data.posters import poster_to_array

NOT_A_GENRE = {"N/A", "", "nan", "None"}
POSTER_CHECK_SIZE = 16  # decoding a poster this small still reads all of it
SKIP_REASONS = ("duplicate id", "no genre", "empty overview", "missing poster", "undecodable poster")
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


def parse_genres(value) -> list[str]:
    """Genres as a clean list: accepts a list or the upstream "['Comedy', 'Drama']" string."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value) if value.strip().startswith("[") else value.split("|")
        except (ValueError, SyntaxError):
            return []
        if isinstance(value, str):
            value = [value]
    cleaned = []
    for genre in value:
        genre = str(genre).strip()
        if genre not in NOT_A_GENRE and genre not in cleaned:
            cleaned.append(genre)
    return cleaned


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


def column_names(split) -> list[str]:
    """A Dataset's or a streamed IterableDataset's columns (the latter may only know its features)."""
    return split.column_names if split.column_names is not None else list(split.features or {})


def check_columns(present: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in present]
    if missing:
        raise ValueError(
            f"the data has no column(s) {missing}; it has {present}. Map them with e.g. --columns overview=plot,poster=image"
        )


def clean(split: datasets.Dataset, report: LoadReport, seen_ids: set[str]) -> datasets.Dataset:
    """The rows of `split` without a problem (see `problem`); the others are counted in `report`."""
    keep = []
    for index, row in enumerate(split):
        reason = problem(row, seen_ids)
        if reason:
            report.skip(reason, row["id"])
        else:
            keep.append(index)
        seen_ids.add(row["id"])
    return split.select(keep)


def problem(row: dict, seen_ids: set[str], decode: bool = True) -> str | None:
    """Why a row cannot be used (one of SKIP_REASONS), or None. Without `decode` the poster is only
    checked for presence (a streamed pass: the featurizer decodes and counts the bad ones)."""
    if row["id"] in seen_ids:
        return "duplicate id"
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
