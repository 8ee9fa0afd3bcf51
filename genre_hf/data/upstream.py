"""The upstream layout of the Multimodal IMDB data, as its users receive it.

    IMDB_overview_genres.csv   Id, Genre (a Python-style list), one-hot genre columns, Overview
    Images/<Id>.jpg            the poster
    titles.csv                 Id, title, year (MovieLens links; optional)

The CSV is read strictly, because a spreadsheet's CSV is whatever it wrote: UTF-8 (with or without a
byte-order mark; anything else is named and refused), the header checked for its columns, every row
of the header's width, a quote left open refused with its line number rather than swallowing the
rows after it, no field over MAX_FIELD characters, and no column it reads named twice in the header.
Rows come out as the loader's rows with the poster by path, not read; the loader cleans them.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

from genre_hf.data.cleaning import safe_id

CSV_FILE = "IMDB_overview_genres.csv"
IMAGES_DIR = "Images"
TITLES_FILE = "titles.csv"
COLUMNS = ("Id", "Genre", "Overview")  # the columns the loader reads; the one-hot genre columns are not needed
MAX_ID = 200  # characters: a longer id would make a poster file name over the file system's limit
MAX_FIELD = 100_000  # characters: the longest real overview has 383; a longer field is a quote left open or not this file
RUN_ON = re.compile(r"\n\s*tt\d{5,},")  # a newline and then an IMDb id inside a field: an open quote swallowed the next row


def is_upstream(folder: Path) -> bool:
    return folder.is_dir() and (folder / CSV_FILE).is_file()


def records(folder: Path):
    """The CSV's rows as loader rows: id, overview, raw genre cell, poster by path (never outside Images/)."""
    for record in read_csv(folder / CSV_FILE, COLUMNS):
        movie_id = record["Id"].strip()
        yield {
            "id": movie_id,
            "overview": record["Overview"],
            "genres": record["Genre"],
            # An unsafe id ("../x") names no file: the folder itself stands in, and is never read as a poster.
            "poster": {"path": str(folder / IMAGES_DIR / (f"{movie_id}.jpg" if safe_id(movie_id) and len(movie_id) <= MAX_ID else "")), "bytes": None},
        }


def count(folder: Path) -> int:
    return sum(1 for _ in read_csv(folder / CSV_FILE, COLUMNS))


def read_csv(path: Path, columns: tuple[str, ...]):
    """Rows of a CSV file as {column: text}, read strictly (see the module docstring); a ValueError
    names the file, the line and what is wrong."""
    with open(path, newline="", encoding=_encoding(path), errors="strict") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            _limit_fields()
            header = [name.strip() for name in next(reader, [])]
            missing = [name for name in columns if name not in header]
            if missing:
                raise ValueError(f"{path.name} has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''} in its header "
                                 f"(it needs {', '.join(columns)}); its first line has {len(header)} fields")
            doubled = [name for name in columns if header.count(name) > 1]
            if doubled:  # which one is meant cannot be known: never silently the first
                raise ValueError(f"{path.name} has {header.count(doubled[0])} {doubled[0]} columns in its header: keep one")
            positions = {name: header.index(name) for name in columns}
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{path.name}, line {reader.line_num}: {len(row)} fields where the header has {len(header)} "
                                     "(a stray comma or quote?)")
                record = {name: row[position] for name, position in positions.items()}
                if any(RUN_ON.search(value) for value in record.values()):
                    raise ValueError(f"{path.name}, line {reader.line_num}: a field runs on into the next row (a quote left open?)")
                yield record
        except csv.Error as error:
            raise ValueError(f"{path.name}, line {reader.line_num}: {error} (a quote left open, or a field of over "
                             f"{MAX_FIELD:,} characters?)") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path.name} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start:,}; "
                             "Latin-1 or Windows-1252 perhaps): save it as UTF-8") from None


def _encoding(path: Path) -> str:
    """UTF-8, with its byte-order mark skipped when there is one; UTF-16 or 32 is named and refused."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
                      (codecs.BOM_UTF16_BE, "UTF-16")):
        if start.startswith(bom):
            raise ValueError(f"{path.name} is {name} text: save it as UTF-8")
    if b"\0" in start:
        raise ValueError(f"{path.name} is not UTF-8 text (it has NUL bytes: UTF-16 without a byte-order mark?): save it as UTF-8")
    return "utf-8-sig"


def _limit_fields() -> None:
    csv.field_size_limit(MAX_FIELD)


def read_titles(folder: Path) -> dict[str, str]:
    """MovieLens titles by IMDb id, as a visitor reads them ("The Big Chill (1983)"); {} without titles.csv."""
    path = folder / TITLES_FILE
    if not path.is_file():
        return {}
    return {row["Id"]: f"{_readable_title(row['title'])} ({row['year']})" for row in read_csv(path, ("Id", "title", "year"))}


def _readable_title(raw: str) -> str:
    """MovieLens writes "Big Chill, The (Original title)", here with ';' for ',': show "The Big Chill"."""
    name, _, article = raw.split(" (")[0].rpartition(";")
    return (f"{article} {name}" if name and article in ("The", "A", "An") else raw.split(" (")[0]).replace(";", ", ")
