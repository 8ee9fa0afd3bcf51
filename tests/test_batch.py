"""`genre-hf predict`: every movie of a source into Parquet, CSV or JSON Lines, skips counted, memory flat."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from tests.conftest import END_SCRIPT, write_subset

ROOT = Path(__file__).resolve().parents[1]
MEMORY_SCRIPT = """
import json, sys
from genre_hf import GenreClassifier
from genre_hf.inference.batch import predict_file

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024

clf = GenreClassifier.from_pretrained(sys.argv[1])
predict_file(clf, sys.argv[2], sys.argv[3] + "/warm.parquet", split="warm", progress=False)
before = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak, so it measures the big run alone
report = predict_file(clf, sys.argv[2], sys.argv[3] + "/big.parquet", split="big", progress=False)
print(json.dumps({"before": before, "peak": rss("VmHWM:"), "predicted": report.predicted}))
""" + END_SCRIPT


@pytest.fixture(scope="module")
def source(data_dir, tmp_path_factory):
    """40 real movies in the upstream layout, with the problems real folders have."""
    folder = write_subset(data_dir, tmp_path_factory.mktemp("batch") / "imdb", rows=40, start=1000)
    posters = sorted((folder / "Images").iterdir())
    posters[0].unlink()  # missing poster: the overview models still answer
    data = posters[1].read_bytes()
    posters[1].unlink()
    posters[1].write_bytes(data[: len(data) // 3])  # truncated poster
    lines = (folder / "IMDB_overview_genres.csv").read_text(encoding="utf-8").splitlines()
    for index, poster in ((1, posters[2]), (2, posters[0])):  # an empty overview; and one with nothing usable
        row = next(i for i, line in enumerate(lines) if line.startswith(poster.stem))
        lines[row] = lines[row].rpartition(",")[0] + ","
    (folder / "IMDB_overview_genres.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder, [p.stem for p in posters[:3]]


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(tiny_model_dir)


def test_every_format_has_every_movie_model_and_genre(classifier, source, tmp_path):
    from genre_hf.inference.batch import flat_columns, predict_file

    folder, (nothing, truncated, no_overview) = source
    reports = {suffix: predict_file(classifier, folder, tmp_path / f"out{suffix}", progress=False) for suffix in (".parquet", ".csv", ".jsonl")}
    report = reports[".parquet"]
    assert report.rows_in == 40 and report.predicted == 39
    assert dict(report.skipped) == {"missing poster and empty overview": 1}
    assert dict(report.problems) == {"missing poster": 1, "undecodable poster": 1, "empty overview": 2}

    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    lines = [json.loads(line) for line in open(tmp_path / "out.jsonl", encoding="utf-8")]
    assert len(table) == len(rows) == len(lines) == 39
    assert list(table[0]) == list(rows[0]) == flat_columns(classifier.genres)
    assert [r["id"] for r in table] == [r["id"] for r in rows] == [r["id"] for r in lines]
    assert nothing not in [r["id"] for r in table]

    by_id = {r["id"]: r for r in table}
    assert by_id[truncated]["poster.genres"] is None and by_id[truncated]["overview.Drama"] is not None
    assert by_id[no_overview]["overview.genres"] is None and by_id[no_overview]["poster.Drama"] is not None
    assert "poster alone" in by_id[no_overview]["fusion.notes"][0]

    movie = next(r for r in lines if r["id"] not in (truncated, no_overview))
    poster = folder / "Images" / f"{movie['id']}.jpg"
    overview = next(r for r in csv.DictReader(open(folder / "IMDB_overview_genres.csv", encoding="utf-8")) if r["Id"] == movie["id"])["Overview"]
    expected = classifier.predict(poster=poster, overview=overview)
    for name in expected:
        for genre, p in expected[name]["probabilities"].items():
            assert movie[name]["probabilities"][genre] == pytest.approx(p, abs=1e-5)
            assert by_id[movie["id"]][f"{name}.{genre}"] == pytest.approx(p, abs=1e-5)
            assert float(next(r for r in rows if r["id"] == movie["id"])[f"{name}.{genre}"]) == pytest.approx(p, abs=1e-5)
        assert movie[name]["genres"] == expected[name]["genres"] == by_id[movie["id"]][f"{name}.genres"]


def test_the_command_line_reads_a_save_to_disk_folder_and_fails_cleanly(tiny_model_dir, subset_dir, tmp_path):
    from genre_hf.data.loader import load_movies

    movies, _ = load_movies(subset_dir)
    datasets.DatasetDict({"test": movies["test"].select(range(20))}).save_to_disk(tmp_path / "saved")
    command = [sys.executable, "-m", "genre_hf", "predict", "--model", str(tiny_model_dir), "--data", str(tmp_path / "saved"),
               "--output", str(tmp_path / "predictions.csv")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Predicted 20 of 20 movies" in done.stderr and "movie/s" in done.stderr  # the report and the progress bar
    assert len(list(csv.DictReader(open(tmp_path / "predictions.csv")))) == 20
    bad = subprocess.run(command[:-1] + [str(tmp_path / "predictions.xlsx")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "the output must end in one of .parquet, .csv, .jsonl" in bad.stderr
    assert "Loading the model" not in bad.stderr  # said before TensorFlow starts, not after the model has loaded
    assert "Traceback" not in bad.stderr and not (tmp_path / "predictions.xlsx").exists()


def test_memory_stays_flat_over_a_large_streamed_source(tiny_model_dir, data_dir, tmp_path):
    """3,000 movies streamed from Parquet: the peak grows by far less than one batch of them would need."""
    posters = sorted((data_dir / "Images").iterdir())[:50]
    images = [{"bytes": p.read_bytes(), "path": None} for p in posters]
    features = datasets.Features({"id": datasets.Value("string"), "overview": datasets.Value("string"), "poster": datasets.Image()})

    def split(size):
        return datasets.Dataset.from_dict(
            {"id": [f"m{i}" for i in range(size)], "overview": [f"A story number {i} about a heist." for i in range(size)],
             "poster": [images[i % len(images)] for i in range(size)]}, features=features)

    datasets.DatasetDict({"warm": split(300), "big": split(3000)}).save_to_disk(tmp_path / "synthetic")
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tiny_model_dir), str(tmp_path / "synthetic"), str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["predicted"] == 3000
    print(f"RSS before {result['before']} MB, peak during 3,000 movies {result['peak']} MB")
    assert result["peak"] - result["before"] < 150, result


def test_predicting_one_split_writes_the_movies_evaluate_scores_in_it(classifier, subset_dir, tmp_path):
    """`--split test` of an upstream folder (which has no splits of its own) is the test split that
    training cut and `genre-hf evaluate --split test` scores: the same movies, by the model's id hash."""
    from genre_hf.data.loader import load_movies
    from genre_hf.inference.batch import predict_file

    movies, _ = load_movies(subset_dir, split=classifier.config.split)
    for split in ("test", "validation"):
        report = predict_file(classifier, subset_dir, tmp_path / f"{split}.csv", split=split, progress=False)
        written = [row["id"] for row in csv.DictReader(open(tmp_path / f"{split}.csv", encoding="utf-8"))]
        assert written == list(movies[split]["id"]) and report.rows_in == len(movies[split]) < sum(map(len, movies.values()))
    with pytest.raises(ValueError, match=r"no split 'tset' in the data; it has \['test', 'train', 'validation'\]"):
        predict_file(classifier, subset_dir, tmp_path / "typo.csv", split="tset", progress=False)
    assert not (tmp_path / "typo.csv").exists()
