"""Any source in, clean and split movies out.

`load_movies` gives a `datasets.DatasetDict` of train / validation / test with the columns `id`,
`overview`, `genres` and `poster` (an `Image()` feature), and a report of what was skipped and why.
Parquet files and Hub datasets can also be streamed (`streaming=True`): the splits are then
`datasets.IterableDataset`s, cleaned and counted as they are read (`iter_movies`), so no copy of the
data is made before training reads it. `stream_movies` reads every row for prediction.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import datasets

from genre_hf.data import mmimdb, upstream
from genre_hf.data.cleaning import FEATURES, ColumnNames, LoadReport, check_columns, clean, column_names, problem
from genre_hf.data.sources import Source
from genre_hf.data.splits import SplitSpec, assign, plan


def load_movies(
    source: str | Path | Source,
    *,
    columns: ColumnNames | None = None,
    split: SplitSpec | None = None,
    streaming: bool = False,
    decode_posters: bool = True,
) -> tuple[datasets.DatasetDict, LoadReport]:
    """Load, clean and split movies from any supported source.

    A source without a validation split is cut into train, validation and test by `split` (a hash
    of the id); a source that has a validation split keeps its splits as given. With `streaming`,
    a Parquet file or Hub dataset is not read here: its splits are `IterableDataset`s, cleaned (and
    counted in the report) by `iter_movies` as they are read. Other sources are read as usual: an
    upstream folder holds its posters as paths and a `save_to_disk` folder is memory-mapped.
    Without `decode_posters`, posters are checked for presence only, as in a streamed pass: for a
    reader of a few movies (the app's examples), which checks those itself (`cleaning.problem`).
    """
    source, columns, spec = Source.of(source), columns or ColumnNames(), split or SplitSpec()
    if streaming and source.streams:
        raw = source.raw_splits(columns, streaming=True)
        report = LoadReport(source=str(source), streamed=True, split_rule=spec.rule(list(raw)))
        return datasets.IterableDatasetDict(assign(raw, spec)), report
    raw = source.raw_splits(columns)
    report = LoadReport(source=str(source), rows_in=sum(len(part) for part in raw.values()), split_rule=spec.rule(list(raw)))
    if source.kind == "mmimdb":
        report.notes.append(mmimdb.plot_note())
    seen_ids: set[str] = set()
    cleaned = {name: clean(rows, report, seen_ids, decode_posters) for name, rows in raw.items()}
    splits = {name: part.cast_column("poster", datasets.Image()) for name, part in assign(cleaned, spec).items()}
    report.rows_kept = {name: len(part) for name, part in splits.items()}
    return datasets.DatasetDict(splits), report


def all_rows(movies: datasets.DatasetDict, split: str | None = None) -> datasets.Dataset:
    """One split by name, or every row when no split is named (e.g. a held-out folder)."""
    if split is None:
        return datasets.concatenate_datasets(list(movies.values()))
    check_split(split, list(movies))
    return movies[split]


def collect_genres(train: datasets.Dataset) -> list[str]:
    """The genre vocabulary, alphabetical, from the training split only."""
    return sorted({genre for genres in train["genres"] for genre in genres})


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
            reason = problem(row, seen, decode=False)
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


def stream_movies(source: str | Path | Source, *, columns: ColumnNames | None = None, split: str | None = None,
                  spec: SplitSpec | None = None):
    """(rows, total or None): every row of a source as {"id", "overview", "poster"}, one at a time.

    For prediction: genres are not needed and no row is dropped here. Parquet files and Hub
    datasets are streamed, a save_to_disk folder is memory-mapped and an upstream folder's posters
    are read one by one, so memory does not grow with the size of the data. `split` picks one split
    by the names `load_movies` gives (`splits.plan`), the movies of a cut split picked by `spec`'s id
    hash as `load_movies` picks them; by default every split is read.
    """
    source, columns, spec = Source.of(source), columns or ColumnNames(), spec or SplitSpec()
    if source.kind == "upstream":
        given = source.own_splits()
        read, count = (lambda name: map(_prediction_row, upstream.records(source.path))), (lambda name: source.count())
    elif source.kind == "mmimdb":
        ids = mmimdb.read_split_ids(source.path)
        given = list(ids)
        read, count = (lambda name: map(_prediction_row, mmimdb.records(source.path, ids[name]))), (lambda name: len(ids[name]))
    else:
        loaded = source.open(streaming=source.streams)
        given = list(loaded)
        needed = {"id": columns.id, "overview": columns.overview, "poster": columns.poster}

        def read(name):  # the columns checked now, the rows read later
            check_columns(column_names(loaded[name]), list(needed.values()))
            part = loaded[name].select_columns(list(needed.values())).cast_column(columns.poster, datasets.Image(decode=False))
            return (_prediction_row({key: row[column] for key, column in needed.items()}) for row in part)

        def count(name):
            return source.count(name, opened=loaded)

    names, cut = given, False
    if split is not None:
        planned = plan(given)
        check_split(split, list(planned))
        names, cut = planned[split]
    rows = itertools.chain.from_iterable([read(name) for name in names])
    if cut:
        return (row for row in rows if spec.cut(row["id"], given) == split), None
    counts = [count(name) for name in names]
    return rows, None if None in counts else sum(counts)


def split_names(source: str | Path | Source) -> list[str] | None:
    """The splits `load_movies` gives a source, known before its rows are read (None for a Hub
    dataset; a cut test split that turns out empty is dropped then)."""
    given = Source.of(source).own_splits()
    return None if given is None else list(plan(given))


def check_split(split: str | None, names: list[str] | None) -> None:
    """Refuse a split the data does not have (`names`, when known)."""
    if split is not None and names is not None and split not in names:
        raise ValueError(f"no split {split!r} in the data; it has {sorted(names)}")


def _prediction_row(row: dict) -> dict:
    return {"id": str(row["id"]), "overview": row["overview"] or "", "poster": row["poster"]}
