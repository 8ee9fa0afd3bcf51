"""Datasets in, clean rows out.

Every source becomes a `datasets.DatasetDict` with the columns `id`, `overview` (str), `genres`
(list of str) and `poster` (an `Image()` feature). Sources: the upstream folder layout
(`IMDB_overview_genres.csv` + `Images/<Id>.jpg`), the MM-IMDb release layout (`mmimdb.py`), a Hub
dataset id, a local Parquet file, or a `save_to_disk` folder. Bad rows are skipped and counted by reason, never silently and never with a
crash, because real data has them (N/A-only genres, truncated posters, empty overviews).

Parquet files and Hub datasets can also be streamed (`streaming=True`): the splits are then
`datasets.IterableDataset`s, cleaned and counted as they are read (`iter_movies`), so no copy of the
data is made before training reads it.
"""

from __future__ import annotations

import ast
import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from genre_hf.data import mmimdb
from genre_hf.data.posters import poster_to_array

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
    streamed: bool = False  # rows are counted as they are read (see iter_movies)
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

    def rule(self, given: list[str]) -> str:
        """How a source with the splits `given` is split (see _ensure_splits), in words for reports."""
        cut = f"cut by a hash of the id (validation {self.validation:g}, test {self.test:g}, salt {self.salt!r})"
        if any(alias in given for alias in VALIDATION_ALIASES) or not {"all", "train"} & set(given):
            return "given by the source"
        if "test" in given:
            return f"test given by the source; train and validation {cut}"
        return cut

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
    streaming: bool = False,
) -> tuple[datasets.DatasetDict, LoadReport]:
    """Load, clean and split movies from any supported source.

    A source without a validation split is cut into train, validation and test by `split` (a hash
    of the id); a source that has a validation split keeps its splits as given. With `streaming`,
    a Parquet file or Hub dataset is not read here: its splits are `IterableDataset`s, cleaned (and
    counted in the report) by `iter_movies` as they are read. Other sources are read as usual: an
    upstream folder holds its posters as paths and a `save_to_disk` folder is memory-mapped.
    """
    columns = columns or ColumnNames()
    kind = _source_kind(source)
    if streaming and kind in ("parquet", "hub"):
        return _streamed_splits(source, columns, split or SplitSpec())
    raw = _read_source(source, columns)
    report = LoadReport(source=str(source), rows_in=sum(len(split) for split in raw.values()), split_rule=(split or SplitSpec()).rule(list(raw)))
    if kind == "mmimdb":
        report.notes.append(mmimdb.plot_note())
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


def iter_movies(movies, chunk_size: int = 256, report: LoadReport | None = None):
    """Batches of movies (dicts of lists: id, overview, genres, poster as {"bytes", "path"}), read
    `chunk_size` at a time, so memory does not grow with the split.

    A `Dataset` was cleaned when it was loaded; a streamed `IterableDataset` is cleaned here (each
    pass on its own: a bad or duplicate row is skipped, and counted in `report` when one is given).
    Posters are checked only for presence here: the featurizer decodes them and skips (and counts)
    those it cannot decode.
    """
    movies = movies.cast_column("poster", datasets.Image(decode=False))
    if isinstance(movies, datasets.Dataset):
        yield from movies.iter(batch_size=chunk_size)
        return
    seen: set[str] = set()
    for batch in movies.iter(batch_size=chunk_size):
        kept = {key: [] for key in FEATURES}
        for row in (dict(zip(batch, values)) for values in zip(*batch.values())):
            reason = _problem(row, seen, decode=False)
            seen.add(row["id"])
            if report is not None:
                report.rows_in += 1
                if reason:
                    report.skip(reason, row["id"])
            if not reason:
                for key in FEATURES:
                    kept[key].append(row[key])
        if kept["id"]:
            yield kept


def count_movies(source: str | Path) -> int | None:
    """Rows in a source, from its metadata where it has some (None when unknown, e.g. a Hub dataset
    offline): enough to choose between in-memory and streamed features before reading any poster."""
    kind = _source_kind(source)
    if kind == "upstream":
        return sum(1 for _ in _upstream_records(Path(source)))
    if kind == "mmimdb":
        return sum(len(ids) for ids in mmimdb.read_split_ids(Path(source)).values())
    if kind == "parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_metadata(str(source)).num_rows
    if kind == "disk":
        return sum(len(part) for part in _open_source(source, kind, False).values())
    try:  # a Hub dataset: the row counts in its Parquet files' footers (a few kB read from each)
        import pyarrow.parquet
        from huggingface_hub import HfFileSystem

        files = HfFileSystem()
        total = 0
        for name in files.glob(f"datasets/{source}/**/*.parquet"):
            with files.open(name) as handle:
                total += pyarrow.parquet.ParquetFile(handle).metadata.num_rows
        return total or None
    except Exception:  # offline, private, not Parquet: unknown
        return None


def source_fingerprint(source: str | Path, columns: ColumnNames | None = None) -> dict:
    """What identifies a source's content for a feature cache: its path and the size and modification
    time of its files (a Hub dataset: its id and, when the Hub answers, its commit).

    A poster replaced in place by a file of the same name in an upstream folder is not noticed (its
    folder's listing is unchanged): use a fresh cache folder then.
    """
    kind = _source_kind(source)
    found = {"kind": kind, "columns": vars(columns or ColumnNames())}
    if kind == "hub":
        try:
            from huggingface_hub import HfApi

            revision = HfApi().dataset_info(str(source)).sha
        except Exception:  # offline or unreachable: the id alone (a changed dataset is not noticed)
            revision = None
        return {**found, "id": str(source), "revision": revision}
    path = Path(source).resolve()
    if kind == "upstream":
        files = [path / UPSTREAM_CSV, path / UPSTREAM_IMAGES]
    elif kind == "mmimdb":
        files = [path / mmimdb.SPLIT_FILE, path / mmimdb.MOVIES_DIR]
    elif kind == "parquet":
        files = [path]
    else:
        files = sorted(item for item in path.rglob("*") if item.is_file())
    stats = {str(item.relative_to(path.parent)): [item.stat().st_size, item.stat().st_mtime_ns] for item in files}
    return {**found, "path": str(path), "files": stats}


def source_name(source: str | Path) -> str:
    """A data set's name for reports and cards: a Hub id as is, "MM-IMDb" for its release layout,
    else the folder's or file's name."""
    kind = _source_kind(source)
    if kind == "hub":
        return str(source)
    return "MM-IMDb" if kind == "mmimdb" else Path(source).resolve().name


def source_kind(source: str | Path) -> str:
    """"upstream", "mmimdb", "disk", "parquet" or "hub" (a ValueError for anything else)."""
    return _source_kind(source)


def collect_genres(train: datasets.Dataset) -> list[str]:
    """The genre vocabulary, alphabetical, from the training split only."""
    return sorted({genre for genres in train["genres"] for genre in genres})


def _source_kind(source: str | Path) -> str:
    """"upstream", "mmimdb", "disk" (save_to_disk), "parquet" or "hub", or a ValueError that says what is there."""
    path = Path(source)
    if path.is_dir() and (path / UPSTREAM_CSV).is_file():
        return "upstream"
    if mmimdb.is_release(path):
        return "mmimdb"
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        return "disk"
    if path.is_file() and path.suffix == ".parquet":
        return "parquet"
    if path.exists():
        raise ValueError(
            f"cannot read movies from {path}: expected a folder with {UPSTREAM_CSV} and "
            f"{UPSTREAM_IMAGES}/, an MM-IMDb folder ({mmimdb.SPLIT_FILE} and {mmimdb.MOVIES_DIR}/), a save_to_disk folder, "
            "or a .parquet file"
        )
    if str(source).count("/") == 1 and not str(source).startswith((".", "/", "~")):
        return "hub"
    raise ValueError(f"no data at {source}: not a folder, a file or a Hub dataset id")


def _open_source(source: str | Path, kind: str, streaming: bool):
    """The source as a DatasetDict (or IterableDatasetDict when streaming from Parquet or the Hub)."""
    if kind == "disk":
        loaded = datasets.load_from_disk(str(source))
    elif kind == "parquet":
        loaded = datasets.load_dataset("parquet", data_files=str(source), streaming=streaming)
    else:
        loaded = datasets.load_dataset(str(source), streaming=streaming)
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"all": loaded})
    return loaded


def _read_source(source: str | Path, columns: ColumnNames) -> dict[str, datasets.Dataset]:
    kind = _source_kind(source)
    if kind == "upstream":
        return {"all": _rows_dataset(_upstream_records(Path(source)))}
    if kind == "mmimdb":
        folder = Path(source)
        return {name: _rows_dataset(mmimdb.records(folder, ids)) for name, ids in mmimdb.read_split_ids(folder).items()}
    return {name: _canonical_columns(split, columns) for name, split in _open_source(source, kind, False).items()}


def _upstream_records(folder: Path):
    """The upstream CSV's rows as loader rows (poster by path, not read)."""
    with open(folder / UPSTREAM_CSV, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            movie_id = (record.get("Id") or "").strip()
            poster = folder / UPSTREAM_IMAGES / f"{movie_id}.jpg"
            yield {
                "id": movie_id,
                "overview": record.get("Overview") or "",
                "genres": parse_genres(record.get("Genre")),
                "poster": {"path": str(poster), "bytes": None},
            }


def _rows_dataset(records) -> datasets.Dataset:
    """Loader rows (from a folder layout) as a Dataset, their genres cleaned."""
    rows = {"id": [], "overview": [], "genres": [], "poster": []}
    for record in records:
        for key, value in {**record, "genres": parse_genres(record["genres"])}.items():
            rows[key].append(value)
    return datasets.Dataset.from_dict(rows, features=FEATURES)


def _canonical_columns(split: datasets.Dataset, columns: ColumnNames) -> datasets.Dataset:
    wanted = vars(columns)
    _check_columns(split.column_names if split.column_names is not None else list(split.features or {}), list(wanted.values()))
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


def _check_columns(present: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in present]
    if missing:
        raise ValueError(
            f"the data has no column(s) {missing}; it has {present}. Map them with e.g. --columns overview=plot,poster=image"
        )


def stream_movies(source: str | Path, *, columns: ColumnNames | None = None, split: str | None = None):
    """(rows, total or None): every row of a source as {"id", "overview", "poster"}, one at a time.

    For prediction: genres are not needed and no row is dropped here. Parquet files and Hub
    datasets are streamed, a save_to_disk folder is memory-mapped and an upstream folder's posters
    are read one by one, so memory does not grow with the size of the data. `split` picks one split;
    by default every split is read.
    """
    columns = columns or ColumnNames()
    kind = _source_kind(source)
    if kind == "upstream":
        total = sum(1 for _ in _upstream_records(Path(source)))
        return (_prediction_row(row) for row in _upstream_records(Path(source))), total
    if kind == "mmimdb":
        given = mmimdb.read_split_ids(Path(source))
        if split is not None and split not in given:
            raise ValueError(f"no split {split!r} in the data; it has {sorted(given)}")
        ids = [movie_id for name, part in given.items() if split in (None, name) for movie_id in part]
        return (_prediction_row(row) for row in mmimdb.records(Path(source), ids)), len(ids)
    loaded = _open_source(source, kind, streaming=kind != "disk")
    if split is not None and split not in loaded:
        raise ValueError(f"no split {split!r} in the data; it has {sorted(loaded)}")
    parts = [loaded[split]] if split else list(loaded.values())
    needed = {"id": columns.id, "overview": columns.overview, "poster": columns.poster}
    for part in parts:
        names = part.column_names if part.column_names is not None else list(part.features or {})
        _check_columns(names, list(needed.values()))
    total = _total_rows(source, kind, loaded, split)
    rows = (
        _prediction_row({key: row[name] for key, name in needed.items()})
        for part in parts
        for row in part.select_columns(list(needed.values())).cast_column(columns.poster, datasets.Image(decode=False))
    )
    return rows, total


def _prediction_row(row: dict) -> dict:
    return {"id": str(row["id"]), "overview": row["overview"] or "", "poster": row["poster"]}


def _total_rows(source, kind: str, loaded, split: str | None) -> int | None:
    """Row count without reading the rows, where the source knows it (a progress bar's total)."""
    if kind == "disk":
        return sum(len(part) for name, part in loaded.items() if split in (None, name))
    if kind == "parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_metadata(str(source)).num_rows
    splits = getattr(next(iter(loaded.values())).info, "splits", None) or {}
    counts = [info.num_examples for name, info in splits.items() if split in (None, name)]
    return sum(counts) if counts and all(counts) else None


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


def _problem(row: dict, seen_ids: set[str], decode: bool = True) -> str | None:
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


def _streamed_splits(source, columns: ColumnNames, spec: SplitSpec):
    """A Parquet file or Hub dataset as streamed splits: cut by the id hash as it is read (see _ensure_splits)."""
    kind = _source_kind(source)
    raw = {name: _canonical_columns(part, columns) for name, part in _open_source(source, kind, True).items()}
    report = LoadReport(source=str(source), streamed=True, split_rule=spec.rule(list(raw)))
    for alias in VALIDATION_ALIASES:
        if alias in raw:
            raw["validation"] = raw.pop(alias)
            return datasets.IterableDatasetDict(raw), report
    unsplit = [raw.pop(name) for name in ("all", "train") if name in raw]
    if not unsplit:
        return datasets.IterableDatasetDict(raw), report
    pool = datasets.concatenate_datasets(unsplit) if len(unsplit) > 1 else unsplit[0]
    names = ("train", "validation") if "test" in raw else ("train", "validation", "test")

    def assigned(name: str):
        def keep(row) -> bool:
            place = spec.of(row["id"])
            return (place if not ("test" in raw and place == "test") else "train") == name

        return keep

    return datasets.IterableDatasetDict({**{name: pool.filter(assigned(name)) for name in names}, **raw}), report


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
    if "test" in cut and len(cut["test"]) == 0:  # e.g. data drawn from another cut's train and validation
        del cut["test"]
    return {**cut, **splits}
