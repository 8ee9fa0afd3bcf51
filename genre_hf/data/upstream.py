"""The upstream layout of the Multimodal IMDB data, as its users receive it.

    IMDB_overview_genres.csv   Id, Genre (a Python-style list), one-hot genre columns, Overview
    Images/<Id>.jpg            the poster
    titles.csv                 Id, title, year (MovieLens links; optional)

Rows come out as the loader's rows with the poster by path, not read; the loader cleans them.
"""

from __future__ import annotations

import csv
from pathlib import Path

CSV_FILE = "IMDB_overview_genres.csv"
IMAGES_DIR = "Images"
TITLES_FILE = "titles.csv"


def is_upstream(folder: Path) -> bool:
    return folder.is_dir() and (folder / CSV_FILE).is_file()


def records(folder: Path):
    """The CSV's rows as loader rows: id, overview, raw genre cell, poster by path."""
    with open(folder / CSV_FILE, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            movie_id = (record.get("Id") or "").strip()
            yield {
                "id": movie_id,
                "overview": record.get("Overview") or "",
                "genres": record.get("Genre"),
                "poster": {"path": str(folder / IMAGES_DIR / f"{movie_id}.jpg"), "bytes": None},
            }


def count(folder: Path) -> int:
    return sum(1 for _ in records(folder))


def read_titles(folder: Path) -> dict[str, str]:
    """MovieLens titles by IMDb id, as a visitor reads them ("The Big Chill (1983)"); {} without titles.csv."""
    path = folder / TITLES_FILE
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["Id"]: f"{_readable_title(row['title'])} ({row['year']})" for row in csv.DictReader(handle)}


def _readable_title(raw: str) -> str:
    """MovieLens writes "Big Chill, The (Original title)", here with ';' for ',': show "The Big Chill"."""
    name, _, article = raw.split(" (")[0].rpartition(";")
    return (f"{article} {name}" if name and article in ("The", "A", "An") else raw.split(" (")[0]).replace(";", ", ")
