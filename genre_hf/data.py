"""Datasets in, clean rows out.

Every source becomes a `datasets.DatasetDict` with the columns `id`, `overview` (str), `genres`
(list of str) and `poster` (an `Image()` feature). Sources: the upstream folder layout
(`IMDB_overview_genres.csv` + `Images/<Id>.jpg`), a Hub dataset id, a local Parquet file, or a
`save_to_disk` folder. Bad rows are skipped and counted by reason, never silently and never with a
crash, because real data has them (N/A-only genres, truncated posters, empty overviews).
"""

from __future__ import annotations

import ast
import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from genre_hf.posters import poster_to_array

UPSTREAM_CSV = "IMDB_overview_genres.csv"
UPSTREAM_IMAGES = "Images"
NOT_A_GENRE = {"N/A", "", "nan", "None"}
VALIDATION_ALIASES = ("validation", "valid", "val", "dev")
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

    def skip(self, reason: str, movie_id: str) -> None:
        self.skipped[reason] += 1
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(movie_id)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "skipped": dict(self.skipped),
            "skipped_examples": self.skipped_examples,
        }

    def __str__(self) -> str:
        kept = sum(self.rows_kept.values())
        splits = ", ".join(f"{name} {n:,}" for name, n in self.rows_kept.items())
        lines = [f"Loaded {kept:,} of {self.rows_in:,} movies from {self.source} ({splits})"]
        if self.skipped:
            lines.append(f"Skipped {sum(self.skipped.values()):,}:")
            for reason in SKIP_REASONS:
                if self.skipped[reason]:
                    examples = ", ".join(self.skipped_examples[reason])
                    lines.append(f"  {reason}: {self.skipped[reason]:,} (e.g. {examples})")
        return "\n".join(lines)


@dataclass(frozen=True)
class SplitSpec:
    """How a source without given splits is cut: a hash of the movie id places each movie in
    validation, test or train, the same on every machine and run.

    Validation chooses epochs, temperatures and thresholds; test is scored and never tuned on.
    """

    validation: float = 0.15
    test: float = 0.10
    salt: str = "genre_hf-v1"

    @classmethod
    def from_config(cls, config) -> "SplitSpec":
        return cls(config.validation_fraction, config.test_fraction, config.split_salt)

    def of(self, movie_id: str) -> str:
        digest = hashlib.sha256(f"{self.salt}:{movie_id}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < self.validation:
            return "validation"
        return "test" if position < self.validation + self.test else "train"


def load_movies(
    source: str | Path,
    *,
    columns: ColumnNames | None = None,
    split: SplitSpec | None = None,
) -> tuple[datasets.DatasetDict, LoadReport]:
    """Load, clean and split movies from any supported source.

    A source without a validation split is cut into train, validation and test by `split` (a hash
    of the id); a source that has a validation split keeps its splits as given.
    """
    raw = _read_source(source, columns or ColumnNames())
    report = LoadReport(source=str(source), rows_in=sum(len(split) for split in raw.values()))
    seen_ids: set[str] = set()
    cleaned = {name: _clean(rows, report, seen_ids) for name, rows in raw.items()}
    splits = _ensure_splits(cleaned, split or SplitSpec())
    splits = {name: split.cast_column("poster", datasets.Image()) for name, split in splits.items()}
    report.rows_kept = {name: len(split) for name, split in splits.items()}
    return datasets.DatasetDict(splits), report


def all_rows(movies: datasets.DatasetDict, split: str | None = None) -> datasets.Dataset:
    """One split by name, or every row when no split is named (e.g. a held-out folder)."""
    if split is None:
        return datasets.concatenate_datasets(list(movies.values()))
    if split not in movies:
        raise ValueError(f"no split {split!r} in the data; it has {sorted(movies)}")
    return movies[split]


def collect_genres(train: datasets.Dataset) -> list[str]:
    """The genre vocabulary, alphabetical, from the training split only."""
    return sorted({genre for genres in train["genres"] for genre in genres})


def _read_source(source: str | Path, columns: ColumnNames) -> dict[str, datasets.Dataset]:
    path = Path(source)
    if path.is_dir() and (path / UPSTREAM_CSV).is_file():
        return {"all": _read_upstream(path)}
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
    elif path.is_file() and path.suffix == ".parquet":
        loaded = datasets.load_dataset("parquet", data_files=str(path))
    elif path.exists():
        raise ValueError(
            f"cannot read movies from {path}: expected a folder with {UPSTREAM_CSV} and "
            f"{UPSTREAM_IMAGES}/, a save_to_disk folder, or a .parquet file"
        )
    elif str(source).count("/") == 1 and not str(source).startswith((".", "/")):
        loaded = datasets.load_dataset(str(source))
    else:
        raise ValueError(f"no data at {source}: not a folder, a file or a Hub dataset id")
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"all": loaded})
    return {name: _canonical_columns(split, columns) for name, split in loaded.items()}


def _read_upstream(folder: Path) -> datasets.Dataset:
    images = folder / UPSTREAM_IMAGES
    rows = {"id": [], "overview": [], "genres": [], "poster": []}
    with open(folder / UPSTREAM_CSV, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            movie_id = (record.get("Id") or "").strip()
            poster = images / f"{movie_id}.jpg"
            rows["id"].append(movie_id)
            rows["overview"].append(record.get("Overview") or "")
            rows["genres"].append(parse_genres(record.get("Genre")))
            rows["poster"].append({"path": str(poster), "bytes": None})
    return datasets.Dataset.from_dict(rows, features=FEATURES)


def _canonical_columns(split: datasets.Dataset, columns: ColumnNames) -> datasets.Dataset:
    wanted = vars(columns)
    missing = [name for name in wanted.values() if name not in split.column_names]
    if missing:
        raise ValueError(
            f"the data has no column(s) {missing}; it has {split.column_names}. "
            "Map them with e.g. --columns overview=plot,poster=image"
        )
    split = split.select_columns(list(wanted.values()))
    split = split.rename_columns({v: k for k, v in wanted.items() if k != v})
    split = split.cast_column("poster", datasets.Image(decode=False))

    def canonical(batch):
        return {
            "id": [str(value) for value in batch["id"]],
            "overview": [value or "" for value in batch["overview"]],
            "genres": [parse_genres(value) for value in batch["genres"]],
        }

    return split.map(canonical, batched=True, features=FEATURES)


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


def _clean(split: datasets.Dataset, report: LoadReport, seen_ids: set[str]) -> datasets.Dataset:
    keep = []
    for index, row in enumerate(split):
        reason = _problem(row, seen_ids)
        if reason:
            report.skip(reason, row["id"])
        else:
            keep.append(index)
        seen_ids.add(row["id"])
    return split.select(keep)


def _problem(row: dict, seen_ids: set[str]) -> str | None:
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
    try:  # the decoder training uses, so a kept poster is one training can read (truncated, too costly...)
        poster_to_array(poster, POSTER_CHECK_SIZE)
    except ValueError:
        return "undecodable poster"
    return None


def _ensure_splits(splits: dict[str, datasets.Dataset], spec: SplitSpec) -> dict[str, datasets.Dataset]:
    for alias in VALIDATION_ALIASES:
        if alias in splits:
            splits["validation"] = splits.pop(alias)
            return splits
    unsplit = [splits.pop(name) for name in ("all", "train") if name in splits]
    if not unsplit:  # e.g. only a "test" split: nothing to train on, nothing to split
        return splits
    pool = datasets.concatenate_datasets(unsplit)
    assignment = [spec.of(movie_id) for movie_id in pool["id"]]
    names = ("train", "validation") if "test" in splits else ("train", "validation", "test")
    if "test" in splits:  # a given test split stays the only one; its share goes to training
        assignment = ["train" if name == "test" else name for name in assignment]
    cut = {name: pool.select([i for i, s in enumerate(assignment) if s == name]) for name in names}
    return {**cut, **splits}
