"""Batch prediction to a file: `genre-hf predict --model M --data SOURCE --output FILE`.

Rows stream from the source in bounded chunks: a chunk's posters are decoded, every model runs on
it, and its rows are written before the next chunk is read, so memory stays flat however many
movies there are. A movie with only a usable poster or only an overview is still predicted by the
models that can read it; one with neither is skipped and counted by reason. The output (Parquet,
CSV or JSON Lines, by its extension) is written as every output is (`staging.file`): never over the
data, the model or a file that is not predictions of ours, beside its final name under a name of its
own, and moved into place at the end, so an interrupted run (or a full disk) never leaves a
half-written file where a good one was, nor a partial file behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genre_hf import staging
from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.loader import stream_movies
from genre_hf.data.posters import poster_to_array
from genre_hf.modeling import MODEL_NAMES

CHUNK = 256
FORMATS = (".parquet", ".csv", ".jsonl")
WHAT = "predictions file"


@dataclass
class BatchReport:
    rows_in: int = 0
    predicted: int = 0
    problems: Counter = field(default_factory=Counter)  # per row problem: missing poster, empty overview...
    skipped: Counter = field(default_factory=Counter)  # rows with nothing to predict from, by reason

    def __str__(self) -> str:
        lines = [f"Predicted {self.predicted:,} of {self.rows_in:,} movies"]
        if self.skipped:
            lines.append(f"Skipped {sum(self.skipped.values()):,}: " + ", ".join(f"{r}: {n:,}" for r, n in self.skipped.most_common()))
        if self.problems:
            problems = ", ".join(f"{reason}: {n:,}" for reason, n in self.problems.most_common())
            lines.append(f"Rows with an input missing or unreadable (its models left empty): {problems}")
        return "\n".join(lines)


def check_output(output: str | Path, reads=()) -> Path:
    """`output` as a path if its extension names a format we write and it may be written (not one of
    `reads`, the data and model a run reads, nor inside them; not a file of someone's: see
    `staging.check_file`), else a one-line error (which `genre-hf predict` gives before TensorFlow
    starts, not after the model has loaded)."""
    output = Path(output)
    if output.suffix not in FORMATS:
        raise ValueError(f"the output must end in one of {', '.join(FORMATS)}, not {output.name!r}")
    staging.check_file(output, reads, is_predictions, WHAT)
    return output


def is_predictions(path: Path) -> bool:
    """Whether `path` holds predictions this module wrote (its first columns), so a new run may replace it."""
    first = FLAT_START
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names[: len(first)] == first
    with open(path, "rb") as handle:
        line = handle.read(64 * 2**10).split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if path.suffix == ".csv":
        return line.split(",")[: len(first)] == first
    try:
        keys = set(json.loads(line))
    except (ValueError, TypeError):
        return False
    return "id" in keys and keys <= {"id", *MODEL_NAMES}


def predict_file(
    classifier,
    source: str | Path,
    output: str | Path,
    *,
    columns: ColumnNames | None = None,
    split: str | None = None,
    chunk_size: int = CHUNK,
    progress: bool = True,
) -> BatchReport:
    """Predict every movie of `source` (anything `data.stream_movies` reads) into `output`."""
    from tqdm import tqdm

    reads = [source, classifier.files_dir]
    output = check_output(output, reads)
    rows, total = stream_movies(source, columns=columns, split=split, spec=classifier.config.split)
    report = BatchReport()
    with staging.file(output, reads, is_predictions, WHAT) as partial:
        writer = WRITERS[output.suffix](partial, classifier.genres)
        try:
            with tqdm(total=total, unit="movie", file=sys.stderr, disable=not progress, mininterval=1.0) as bar:
                chunk = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) == chunk_size:
                        _predict_chunk(classifier, chunk, writer, report)
                        bar.update(len(chunk))
                        chunk = []
                if chunk:
                    _predict_chunk(classifier, chunk, writer, report)
                    bar.update(len(chunk))
        except BaseException:
            with contextlib.suppress(Exception):  # the error that stopped the run is the one to tell
                writer.close()
            raise
        writer.close()  # an error here (a full disk) leaves the old output as it was and no partial behind
    return report


def _predict_chunk(classifier, rows: list[dict], writer, report: BatchReport) -> None:
    """Predict a chunk, grouped by which inputs each movie has (one forward pass per group and model)."""
    size = classifier.featurizer.image_size
    groups: dict[tuple[bool, bool], list] = {}
    for index, row in enumerate(rows):
        report.rows_in += 1
        poster, poster_problem = _poster(row["poster"], size)
        overview = row["overview"].strip() or None
        problems = [p for p in (poster_problem, None if overview else "empty overview") if p]
        report.problems.update(problems)
        if poster is None and overview is None:
            report.skipped[" and ".join(problems)] += 1
            continue
        groups.setdefault((poster is not None, overview is not None), []).append((index, poster, overview))
    answers = {}
    for (has_poster, has_overview), movies in groups.items():
        predicted = classifier.predict(
            poster=[poster for _, poster, _ in movies] if has_poster else None,
            overview=[overview for _, _, overview in movies] if has_overview else None,
        )
        answers.update({index: answer for (index, _, _), answer in zip(movies, predicted)})
    ordered = [(rows[index]["id"], answers[index]) for index in sorted(answers)]
    writer.write(ordered)
    report.predicted += len(ordered)


def _poster(cell, size: int) -> tuple[np.ndarray | None, str | None]:
    """(decoded poster, None) or (None, why not)."""
    if not cell or (cell.get("bytes") is None and not (cell.get("path") and Path(cell["path"]).is_file())):
        return None, "missing poster"
    try:
        return poster_to_array(cell, size), None
    except ValueError:
        return None, "undecodable poster"


class JsonLinesWriter:
    """One JSON object per movie: {"id", then each model's answer as `predict` gives it}."""

    def __init__(self, path: Path, genres: list[str]):
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, rows) -> None:
        for movie_id, answer in rows:
            self.handle.write(json.dumps({"id": movie_id, **answer}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


def flat_columns(genres: list[str]) -> list[str]:
    """`id`, then per model `<model>.genres`, `<model>.notes` and `<model>.<genre>` (probabilities)."""
    return ["id"] + [f"{model}.{key}" for model in MODEL_NAMES for key in ("genres", "notes", *genres)]


FLAT_START = flat_columns([])[:3]  # the columns every predictions file of ours starts with, whatever its genres


def _flat(answer: dict, model: str, genres: list[str]) -> list:
    entry = answer.get(model)
    if entry is None:
        return [None] * (2 + len(genres))
    return [entry["genres"], entry["notes"], *(entry["probabilities"][genre] for genre in genres)]


class CsvWriter:
    """Flat columns; a model's genres and notes joined by "|", no value where a model did not run."""

    def __init__(self, path: Path, genres: list[str]):
        self.genres, self.handle = genres, open(path, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(flat_columns(genres))

    def write(self, rows) -> None:
        for movie_id, answer in rows:
            cells = [movie_id]
            for model in MODEL_NAMES:
                values = _flat(answer, model, self.genres)
                if values[0] is None:
                    cells += [""] * len(values)
                else:
                    cells += ["|".join(values[0]), "|".join(values[1]), *(f"{p:.6f}" for p in values[2:])]
            self.writer.writerow(cells)

    def close(self) -> None:
        self.handle.close()


class ParquetWriter:
    """Flat columns: genres and notes as lists of strings, probabilities as float32 (null where a model did not run)."""

    def __init__(self, path: Path, genres: list[str]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.genres = pa, genres
        text_list = pa.list_(pa.string())
        fields = [pa.field("id", pa.string())]
        for model in MODEL_NAMES:
            fields += [pa.field(f"{model}.genres", text_list), pa.field(f"{model}.notes", text_list)]
            fields += [pa.field(f"{model}.{genre}", pa.float32()) for genre in genres]
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, rows) -> None:
        if not rows:
            return
        columns = [[movie_id for movie_id, _ in rows]]
        for model in MODEL_NAMES:
            flat = [_flat(answer, model, self.genres) for _, answer in rows]
            columns += [list(values) for values in zip(*flat)]
        self.writer.write_table(self.pa.Table.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


WRITERS = {".jsonl": JsonLinesWriter, ".csv": CsvWriter, ".parquet": ParquetWriter}
