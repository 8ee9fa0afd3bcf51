"""Where movies come from: a data source recognised once, then asked for its rows, size and identity.

Sources: the upstream folder layout (`upstream.py`), the MM-IMDb release layout (`mmimdb.py`), a
`save_to_disk` folder, a local Parquet file, or a Hub dataset id. `Source.of` decides which it is
(or says what is there instead); everything else asks the `Source`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import datasets

from genre_hf import hub_calls, reading
from genre_hf.data import mmimdb, upstream
from genre_hf.data.cleaning import ColumnNames, canonical_columns, rows_dataset

KINDS = ("upstream", "mmimdb", "disk", "parquet", "hub")
MAX_INDEX_BYTES = reading.MB  # a save_to_disk folder's dataset_dict.json (a list of split names) or state file


@dataclass(frozen=True)
class Source:
    location: str  # as given: a path, or a Hub dataset id
    kind: str  # one of KINDS

    @classmethod
    def of(cls, source: "str | Path | Source") -> "Source":
        """The source at `source`, or a ValueError that says what is there."""
        if isinstance(source, Source):
            return source
        path = Path(source)
        if upstream.is_upstream(path):
            return cls(str(source), "upstream")
        if mmimdb.is_release(path):
            return cls(str(source), "mmimdb")
        if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
            return cls(str(source), "disk")
        if path.is_file() and path.suffix == ".parquet":
            return cls(str(source), "parquet")
        if path.exists():
            raise ValueError(
                f"cannot read movies from {path}: expected a folder with {upstream.CSV_FILE} and "
                f"{upstream.IMAGES_DIR}/, an MM-IMDb folder ({mmimdb.SPLIT_FILE} and {mmimdb.MOVIES_DIR}/), a save_to_disk folder, "
                "or a .parquet file"
            )
        if str(source).count("/") == 1 and not str(source).startswith((".", "/", "~")):
            return cls(str(source), "hub")
        raise ValueError(f"no data at {source}: not a folder, a file or a Hub dataset id")

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def streams(self) -> bool:
        """Whether its rows can be streamed (`datasets` IterableDataset) instead of read up front."""
        return self.kind in ("parquet", "hub")

    @property
    def name(self) -> str:
        """A data set's name for reports and cards: a Hub id as is, "MM-IMDb" for its release layout,
        else the folder's or file's name."""
        if self.kind == "hub":
            return self.location
        return "MM-IMDb" if self.kind == "mmimdb" else self.path.resolve().name

    def __str__(self) -> str:
        return self.location

    def open(self, streaming: bool = False):
        """A save_to_disk folder, Parquet file or Hub dataset as it is (a DatasetDict, or an
        IterableDatasetDict when streaming)."""
        if self.kind == "parquet" and self.count() == 0:
            raise ValueError(f"{self.path.name} has no rows")
        try:
            if self.kind == "disk":
                loaded = datasets.load_from_disk(self.location)
            elif self.kind == "parquet":
                loaded = datasets.load_dataset("parquet", data_files=self.location, streaming=streaming)
            elif self.kind == "hub":
                with hub_calls.call(f"download of the data set {self.location}"):  # streamed rows: read later, each read bounded
                    loaded = datasets.load_dataset(self.location, streaming=streaming)
            else:
                raise ValueError(f"a {self.kind} folder is read row by row, not opened as a dataset")
        except datasets.exceptions.DatasetGenerationError as error:  # the cause says what (a damaged file, types that do not fit)
            cause = error.__cause__ or error.__context__ or error
            raise ValueError(f"cannot read {self.location}: {type(cause).__name__}: {str(cause).splitlines()[0][:300]}") from None
        if isinstance(loaded, datasets.Dataset):
            loaded = datasets.DatasetDict({"all": loaded})
        return loaded

    def own_splits(self) -> list[str] | None:
        """The names of the source's own splits, from what it knows without reading its rows (the
        split file, a save_to_disk folder's index); None for a Hub dataset, known once it is opened."""
        if self.kind == "upstream":
            return ["all"]
        if self.kind == "mmimdb":
            return list(mmimdb.read_split_ids(self.path))
        if self.kind == "parquet":
            return ["train"]  # what `datasets` names the rows of a lone file
        if self.kind == "disk":
            index = self.path / "dataset_dict.json"
            if not index.is_file():
                return ["all"]
            splits = reading.read_json(index, MAX_INDEX_BYTES).get("splits")
            if not isinstance(splits, list) or not splits or not all(isinstance(name, str) for name in splits):
                raise ValueError(f"{index.name} in {self.location} must list its splits' names")
            return splits
        return None

    def raw_splits(self, columns: ColumnNames, streaming: bool = False) -> dict:
        """Split name -> the source's rows in the loader's columns, not yet cleaned or split."""
        if self.kind == "upstream":
            return {"all": rows_dataset(upstream.records(self.path))}
        if self.kind == "mmimdb":
            return {name: rows_dataset(mmimdb.records(self.path, ids)) for name, ids in mmimdb.read_split_ids(self.path).items()}
        return {name: canonical_columns(split, columns) for name, split in self.open(streaming and self.streams).items()}

    def count(self, split: str | None = None, opened=None) -> int | None:
        """Rows in the source (or one split of it) from what it knows without reading them: its
        metadata, the split file, the CSV's lines; None when unknown (e.g. a Hub dataset offline).
        Enough to choose between in-memory and streamed features, or to size a progress bar."""
        if self.kind == "upstream":
            return upstream.count(self.path)
        if self.kind == "mmimdb":
            return sum(len(ids) for name, ids in mmimdb.read_split_ids(self.path).items() if split in (None, name))
        if self.kind == "parquet":
            import pyarrow.parquet

            try:
                return pyarrow.parquet.read_metadata(self.location).num_rows
            except (OSError, pyarrow.ArrowException) as error:
                raise ValueError(f"{self.path.name} is not a readable Parquet file ({str(error).splitlines()[0][:200]})") from None
        if self.kind == "disk":
            return sum(len(part) for name, part in (opened or self.open()).items() if split in (None, name))
        if opened is not None:  # a Hub dataset: the split sizes its card records, when it has them all
            splits = getattr(next(iter(opened.values())).info, "splits", None) or {}
            counts = [info.num_examples for name, info in splits.items() if split in (None, name)]
            return sum(counts) if counts and all(counts) else None
        try:  # a Hub dataset: the row counts in its Parquet files' footers (a few kB read from each)
            import pyarrow.parquet
            from huggingface_hub import HfFileSystem

            files = HfFileSystem()
            total = 0
            with hub_calls.call(f"listing of the data set {self.location}"):
                for name in files.glob(f"datasets/{self.location}/**/*.parquet"):
                    with files.open(name) as handle:
                        total += pyarrow.parquet.ParquetFile(handle).metadata.num_rows
            return total or None
        except Exception:  # offline, private, not Parquet: unknown
            return None

    def identity(self, fingerprint: dict | None = None) -> str:
        """What the data is, by whatever path it is given: a digest of the file that lists its movies
        (the upstream CSV, MM-IMDb's split file, a Parquet file's footer, a save_to_disk folder's
        index and state files); a Hub dataset's id and commit (`fingerprint`'s, when given). A copy
        of the data elsewhere has the same identity; any change to its movies gives another."""
        if self.kind == "hub":
            revision = (fingerprint or self.fingerprint()).get("revision")
            return f"hub:{self.location}@{revision or 'unknown revision'}"
        digest = hashlib.sha256(self.kind.encode())
        if self.kind == "parquet":
            digest.update(_parquet_footer(self.path))
        else:
            path = self.path
            files = ([path / upstream.CSV_FILE] if self.kind == "upstream" else [path / mmimdb.SPLIT_FILE] if self.kind == "mmimdb"
                     else sorted(item for item in path.rglob("*.json") if item.is_file()))
            for item in files:
                digest.update(str(item.relative_to(path)).encode() + b"\0")
                with open(item, "rb") as handle:
                    digest.update(hashlib.file_digest(handle, "sha256").digest())
        return f"{self.kind}:{digest.hexdigest()[:32]}"

    def fingerprint(self, columns: ColumnNames | None = None) -> dict:
        """What identifies the source's content for a feature cache: its path and the size and
        modification time of its files (a Hub dataset: its id and, when the Hub answers, its commit).

        A poster replaced in place by a file of the same name in an upstream folder is not noticed
        (its folder's listing is unchanged): use a fresh cache folder then.
        """
        found = {"kind": self.kind, "columns": vars(columns or ColumnNames())}
        if self.kind == "hub":
            try:
                from huggingface_hub import HfApi

                with hub_calls.call(f"look-up of the data set {self.location}"):
                    revision = HfApi().dataset_info(self.location).sha
            except Exception:  # offline or unreachable: the id alone (a changed dataset is not noticed)
                revision = None
            return {**found, "id": self.location, "revision": revision}
        path = self.path.resolve()
        if self.kind == "upstream":
            files = [path / upstream.CSV_FILE, path / upstream.IMAGES_DIR]
        elif self.kind == "mmimdb":
            files = [path / mmimdb.SPLIT_FILE, path / mmimdb.MOVIES_DIR]
        elif self.kind == "parquet":
            files = [path]
        else:
            files = sorted(item for item in path.rglob("*") if item.is_file())
        stats = {str(item.relative_to(path.parent)): [item.stat().st_size, item.stat().st_mtime_ns] for item in files}
        return {**found, "path": str(path), "files": stats}


def _parquet_footer(path: Path) -> bytes:
    """A Parquet file's footer (its schema, row groups, offsets and column statistics): what tells
    one file's content from another's without reading its rows."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 8))
        tail = handle.read(8)
        length = int.from_bytes(tail[:4], "little") if len(tail) == 8 and tail[4:] == b"PAR1" else 0
        if not 0 < length <= size - 8:
            raise ValueError(f"{path.name} is not a readable Parquet file (no footer)")
        handle.seek(size - 8 - length)
        return handle.read(length)
