"""The loader on the real data, on Parquet / save_to_disk sources, and on broken folders."""

import ast
import csv

import datasets
import pytest
from PIL import Image

from genre_hf.data.cleaning import ColumnNames, parse_genres
from genre_hf.data.loader import collect_genres, load_movies
from genre_hf.data.splits import SplitSpec
from tests.conftest import write_subset


def csv_counts(folder) -> tuple[int, int, set[str]]:
    """(rows, rows whose only genre is N/A, the genres named): the CSV read without the loader. The
    development copy has 5,714 rows, 4 of them N/A, and 20 genres; the download has 6,325 rows."""
    with open(folder / "IMDB_overview_genres.csv", newline="", encoding="utf-8-sig") as handle:
        cells = [ast.literal_eval(row["Genre"]) for row in csv.DictReader(handle)]
    return len(cells), sum(cell == ["N/A"] for cell in cells), {genre for cell in cells for genre in cell} - {"N/A"}


def test_real_data_loads_with_the_na_rows_reported(data_dir):
    rows, no_genre, named = csv_counts(data_dir)
    assert rows >= 5714 and no_genre >= 4 and len(named) == 20
    movies, report = load_movies(data_dir)
    assert report.rows_in == rows
    assert dict(report.skipped) == {"no genre": no_genre}
    kept = rows - no_genre
    assert sum(report.rows_kept.values()) == kept
    assert set(movies) == {"train", "validation", "test"}
    assert 0.13 < len(movies["validation"]) / kept < 0.17 and 0.08 < len(movies["test"]) / kept < 0.12
    genres = collect_genres(movies["train"])
    assert set(genres) == named and "Documentary" not in genres
    row = movies["train"][0]
    assert set(row) == {"id", "overview", "genres", "poster"}
    assert isinstance(row["poster"], Image.Image) and row["poster"].size[1] == 128
    assert f"no genre: {no_genre}" in str(report)


def test_split_is_deterministic_and_disjoint(subset_dir):
    first, _ = load_movies(subset_dir)
    second, _ = load_movies(subset_dir)
    for name in ("validation", "test"):
        assert list(first[name]["id"]) == list(second[name]["id"]) and len(first[name]) > 0
    ids = [set(first[name]["id"]) for name in ("train", "validation", "test")]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]


def test_the_real_split_is_disjoint_complete_and_row_independent(data_dir, tmp_path):
    movies, report = load_movies(data_dir)
    ids = {name: set(movies[name]["id"]) for name in ("train", "validation", "test")}
    rows, no_genre, _ = csv_counts(data_dir)
    assert sum(map(len, ids.values())) == len(set().union(*ids.values())) == rows - no_genre
    assert report.split_rule.startswith("cut by a hash of the id")
    # An id's split depends on the id alone: a folder of other rows puts the same movies in the same splits.
    other, _ = load_movies(write_subset(data_dir, tmp_path / "tail", rows=400, start=5000))
    for name in ("train", "validation", "test"):
        assert set(other[name]["id"]) <= ids[name]
    spec = SplitSpec()
    assert [spec.of(movie_id) for movie_id in movies["test"]["id"]] == ["test"] * len(movies["test"])
    assert SplitSpec(salt="another").of("tt0111161") in ("train", "validation", "test")
    moved = sum(SplitSpec(salt="another").of(movie_id) != "test" for movie_id in movies["test"]["id"])
    assert moved > len(movies["test"]) / 2  # the salt, not the ids' order, decides: another salt, another cut


def test_parquet_with_other_column_names(subset_dir, tmp_path):
    movies, _ = load_movies(subset_dir)
    renamed = movies["train"].select(range(40)).rename_columns({"overview": "plot", "poster": "image"})
    renamed.to_parquet(tmp_path / "movies.parquet")
    loaded, report = load_movies(tmp_path / "movies.parquet", columns=ColumnNames.parse("overview=plot,poster=image"))
    assert report.rows_in == 40 and not report.skipped
    assert sum(len(split) for split in loaded.values()) == 40
    assert isinstance(loaded["train"][0]["poster"], Image.Image)
    with pytest.raises(ValueError, match="no column"):
        load_movies(tmp_path / "movies.parquet")


def test_a_given_split_is_respected(subset_dir, tmp_path):
    movies, _ = load_movies(subset_dir)
    given = datasets.DatasetDict({"train": movies["train"].select(range(30)), "test": movies["train"].select(range(30, 50)),
                                  "validation": movies["validation"].select(range(10))})
    given.save_to_disk(tmp_path / "saved")
    loaded, _ = load_movies(tmp_path / "saved")
    assert {name: len(split) for name, split in loaded.items()} == {"train": 30, "test": 20, "validation": 10}
    assert list(loaded["test"]["id"]) == list(given["test"]["id"])


def test_broken_rows_are_skipped_and_counted(data_dir, tmp_path):
    folder = write_subset(data_dir, tmp_path / "broken", rows=60)
    posters = sorted((folder / "Images").iterdir())
    truncated, missing = posters[0], posters[1]
    data = truncated.read_bytes()
    truncated.unlink()
    truncated.write_bytes(data[: len(data) // 2])
    missing.unlink()
    csv_path = folder / "IMDB_overview_genres.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines[1:], 1) if posters[2].stem in line)
    head, _, _ = lines[target].rpartition(",")
    lines[target] = head + ","  # an empty overview
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    movies, report = load_movies(folder)
    assert report.skipped["undecodable poster"] == 1
    assert report.skipped["missing poster"] == 1
    assert report.skipped["empty overview"] == 1
    kept = sum(len(split) for split in movies.values())
    assert kept == 60 - sum(report.skipped.values())
    assert truncated.stem not in [movie_id for split in movies.values() for movie_id in split["id"]]


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no data at"):
        load_movies(tmp_path / "nowhere" / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="cannot read movies"):
        load_movies(tmp_path / "empty")


def test_parse_genres_drops_not_a_genre():
    assert parse_genres("['N/A']") == []
    assert parse_genres("['Comedy', 'Drama', 'Comedy']") == ["Comedy", "Drama"]
    assert parse_genres(["Action", " N/A ", ""]) == ["Action"]
    assert parse_genres("Action|Crime") == ["Action", "Crime"]
    assert parse_genres("[broken") is None  # unreadable: the row is skipped as such, not as one without genres


def test_the_split_names_known_before_reading_are_the_splits_loaded(data_dir, subset_dir, tmp_path):
    """`split_names` (what `genre-hf evaluate` and `predict` check a --split against before TensorFlow
    starts) names exactly the splits `load_movies` gives, for every kind of source whose splits are
    known without reading it."""
    from genre_hf.data.loader import split_names
    from tests.conftest import write_mmimdb

    movies, _ = load_movies(subset_dir)
    part = datasets.concatenate_datasets([movies["train"].select(range(20)), movies["validation"].select(range(10)),
                                          movies["test"].select(range(10))])  # every cut split has movies
    part.save_to_disk(tmp_path / "one")  # a Dataset: cut by the id hash
    datasets.DatasetDict({"train": part.select(range(30)), "dev": part.select(range(30, 40))}).save_to_disk(tmp_path / "dev")
    datasets.DatasetDict({"train": part.select(range(30)), "test": part.select(range(30, 40))}).save_to_disk(tmp_path / "test")
    datasets.DatasetDict({"warm": part.select(range(10)), "big": part.select(range(10, 40))}).save_to_disk(tmp_path / "named")
    part.to_parquet(tmp_path / "movies.parquet")
    mmimdb, _ = write_mmimdb(data_dir, tmp_path / "mmimdb", rows=40)
    expected = {subset_dir: {"train", "validation", "test"}, tmp_path / "one": {"train", "validation", "test"},
                tmp_path / "dev": {"train", "validation"}, tmp_path / "test": {"train", "validation", "test"},
                tmp_path / "named": {"warm", "big"}, tmp_path / "movies.parquet": {"train", "validation", "test"},
                mmimdb: {"train", "validation", "test"}}
    for source, names in expected.items():
        loaded, _ = load_movies(source)
        assert set(split_names(source)) == set(loaded) == names, source
    assert split_names("someone/movies") is None  # a Hub dataset's splits are known once it is opened
