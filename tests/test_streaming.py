"""Streamed features: the on-disk cache gives the in-memory path's arrays, its tf.data pipeline reads
every row once an epoch, a streamed Parquet source is cleaned and counted like a loaded one, and
building the cache takes flat memory however many movies there are."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

from genre_hf.data.loader import load_movies
from genre_hf.data.sources import Source
from genre_hf.features.cache import CachedFeatures
from genre_hf.features.input_mode import MEMORY_LIMIT, choose_input
from genre_hf.features.npy import NpyArray, NpyWriter
from genre_hf.features.pipeline import input_pipeline
from genre_hf.training.prepare import prepare
from tests.conftest import END_SCRIPT, tiny_config, write_subset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def both(subset_dir, tmp_path_factory):
    """The real 600-movie subset prepared in memory and through a feature cache."""
    config = tiny_config()
    movies, _ = load_movies(subset_dir, split=config.split)
    cache = tmp_path_factory.mktemp("cache")
    memory = prepare(config, movies, log=lambda message: None, input="memory")
    lines = []
    stream = prepare(config, movies, log=lines.append, input="stream", cache_dir=cache, source=Source.of(subset_dir).fingerprint())
    return memory, stream, cache, lines


def test_the_cache_holds_exactly_the_in_memory_features(both):
    memory, stream, cache, lines = both
    assert memory.input == "memory" and stream.input == "stream"
    assert memory.config == stream.config
    assert set(memory.splits) == set(stream.splits) == {"train", "validation", "test"}
    for name, in_memory in memory.splits.items():
        cached = stream.splits[name]
        assert isinstance(cached, CachedFeatures) and cached.folder.parent == cache / "features"
        assert cached.ids == in_memory.ids and len(cached) == len(in_memory) > 0
        np.testing.assert_array_equal(cached.labels, in_memory.labels)
        assert set(cached.inputs) == set(in_memory.inputs) == {"poster", "overview_tokens"}
        for key, array in in_memory.inputs.items():
            assert cached.inputs[key].shape == array.shape and cached.inputs[key].dtype == array.dtype
            np.testing.assert_array_equal(np.asarray(cached.inputs[key]), array)
            np.testing.assert_array_equal(cached.inputs[key][5:17], array[5:17])  # what evaluation reads, a chunk at a time
        assert cached.texts() == in_memory.texts()
    assert sum("featurized into" in line for line in lines) == 3


def _row_hashes(dataset) -> list[str]:
    hashes = []
    for inputs, labels in dataset:
        posters, tokens = inputs["poster"].numpy(), inputs["overview_tokens"].numpy()
        for poster, token_row, label in zip(posters, tokens, labels.numpy()):
            hashes.append(hashlib.sha256(poster.tobytes() + token_row.tobytes() + label.tobytes()).hexdigest())
    return hashes


def test_the_pipeline_reads_every_row_once_an_epoch_in_a_new_order(both):
    import tensorflow as tf

    memory, stream, _, _ = both
    names = ["poster", "overview_tokens"]
    in_memory, cached = memory.splits["train"], stream.splits["train"]
    expected = _row_hashes(input_pipeline(in_memory, names, 64, False, 0))
    assert _row_hashes(input_pipeline(cached, names, 64, False, 0)) == expected  # in order: the same batches

    shuffled = input_pipeline(cached, names, 64, True, 0, modalities=True)
    assert shuffled.cardinality() == -(-len(cached) // 64)
    first, second = _row_hashes(shuffled), _row_hashes(shuffled)
    assert sorted(first) == sorted(second) == sorted(expected)
    assert first != second and first != expected
    batch = next(iter(shuffled))[0]
    assert batch["modalities"].shape == (64, 2) and batch["poster"].dtype == tf.uint8

    # Two workers: disjoint shards of equal full steps (the incomplete last step left out) in training,
    # every row once in evaluation.
    shards = [input_pipeline(cached, names, 32, True, 0, tf.distribute.InputContext(2, index, 2)) for index in (0, 1)]
    batches = [[len(labels) for _, labels in shard] for shard in shards]
    assert batches[0] == batches[1] == [32] * (len(cached) // 64)
    rows = [_row_hashes(shard) for shard in shards]
    assert not set(rows[0]) & set(rows[1]) and set(rows[0] + rows[1]) <= set(expected)
    halves = [_row_hashes(input_pipeline(cached, names, 32, False, 0, tf.distribute.InputContext(2, index, 2))) for index in (0, 1)]
    assert halves[0] + halves[1] == expected
    # One pipeline feeding two replicas (mirrored): whole steps of two full batches.
    for features in (in_memory, cached):
        mirrored = [len(labels) for _, labels in input_pipeline(features, names, 64, True, 0, tf.distribute.InputContext(1, 0, 2))]
        assert mirrored == [64] * (len(features) // 128 * 2)
        evaluated = [len(labels) for _, labels in input_pipeline(features, names, 256, False, 0, tf.distribute.InputContext(1, 0, 2))]
        assert sum(evaluated) == len(features) and evaluated[0] == evaluated[1]  # the first step is whole


def test_a_cache_is_built_once_and_keyed_by_what_makes_the_features(both, subset_dir):
    import dataclasses

    memory, stream, cache, _ = both
    config = tiny_config()
    movies, _ = load_movies(subset_dir, split=config.split)
    lines = []
    again = prepare(config, movies, log=lines.append, input="stream", cache_dir=cache, source=Source.of(subset_dir).fingerprint())
    assert [f.folder for f in again.splits.values()] == [f.folder for f in stream.splits.values()]
    assert sum("from the feature cache" in line for line in lines) == 3 and not any("featurized into" in line for line in lines)
    bigger = prepare(dataclasses.replace(config, poster=dataclasses.replace(config.poster, image_size=96)), movies, log=lambda message: None, input="stream",
                     cache_dir=cache, source=Source.of(subset_dir).fingerprint())
    assert bigger.splits["train"].folder != stream.splits["train"].folder
    assert bigger.splits["train"].inputs["poster"].shape[1:] == (96, 96, 3)
    meta = json.loads((bigger.splits["train"].folder / "meta.json").read_text())
    assert meta["key"]["image_size"] == 96 and meta["rows"] == len(bigger.splits["train"])


def _parquet_with_bad_rows(data_dir: Path, target: Path, rows: int) -> Path:
    """Real movies with embedded poster bytes (as a Hub dataset has them), plus one bad row of each kind."""
    import csv

    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        records = [record for _, record in zip(range(rows), csv.DictReader(handle))]
    table = {"movie_id": [], "plot": [], "genres": [], "image": []}
    for record in records:
        table["movie_id"].append(record["Id"])
        table["plot"].append(record["Overview"])
        table["genres"].append(record["Genre"])
        table["image"].append({"bytes": (data_dir / "Images" / f"{record['Id']}.jpg").read_bytes(), "path": None})
    good = table["image"][0]["bytes"]
    for movie_id, plot, genres, poster in (("bad-genre", "A plot.", "['N/A']", good), ("bad-plot", "", "['Drama']", good),
                                           ("bad-poster", "A plot.", "['Drama']", good[: len(good) // 2]),
                                           (records[0]["Id"], "A duplicate.", "['Drama']", good)):
        table["movie_id"].append(movie_id)
        table["plot"].append(plot)
        table["genres"].append(genres)
        table["image"].append({"bytes": poster, "path": None})
    features = datasets.Features({"movie_id": datasets.Value("string"), "plot": datasets.Value("string"),
                                  "genres": datasets.Value("string"), "image": datasets.Image()})
    datasets.Dataset.from_dict(table, features=features).to_parquet(target)
    return target


def test_a_streamed_source_gives_the_loaded_features_and_counts(data_dir, tmp_path):
    from genre_hf.data.cleaning import ColumnNames

    source = _parquet_with_bad_rows(data_dir, tmp_path / "movies.parquet", rows=160)
    columns = ColumnNames.parse("id=movie_id,overview=plot,poster=image")
    config = tiny_config()
    loaded, loaded_report = load_movies(source, columns=columns, split=config.split)
    streamed, report = load_movies(source, columns=columns, split=config.split, streaming=True)
    assert isinstance(streamed["train"], datasets.IterableDataset) and "Streaming movies" in str(report)
    memory = prepare(config, loaded, log=lambda message: None, input="memory")
    stream = prepare(config, streamed, log=lambda message: None, input="stream", cache_dir=tmp_path / "cache",
                     source=Source.of(source).fingerprint(columns), report=report)
    assert memory.config == stream.config
    for name, in_memory in memory.splits.items():
        assert stream.splits[name].ids == in_memory.ids
        np.testing.assert_array_equal(np.asarray(stream.splits[name].inputs["poster"]), in_memory.inputs["poster"])
    assert report.rows_in == loaded_report.rows_in == 164
    assert dict(report.skipped) == dict(loaded_report.skipped) == {
        "no genre": 1, "empty overview": 1, "undecodable poster": 1, "duplicate id": 1}
    assert report.rows_kept == loaded_report.rows_kept and sum(report.rows_kept.values()) == 160
    # A second run reads the cache, and the counts recorded with it.
    again, report_again = load_movies(source, columns=columns, split=config.split, streaming=True)
    lines = []
    prepare(config, again, log=lines.append, input="stream", cache_dir=tmp_path / "cache", source=Source.of(source).fingerprint(columns),
            report=report_again)
    assert sum("from the feature cache" in line for line in lines) == 3
    assert report_again.to_dict() == report.to_dict()


def test_a_hub_dataset_streams_from_the_hub_like_it_downloads(hub, data_dir, tmp_path):
    """A dataset repo on the test Hub (127.0.0.1): its rows counted from the Parquet footers, then
    streamed (read over HTTP ranges, never downloaded whole) into the same features as a download."""
    from huggingface_hub import HfApi

    from genre_hf.data.cleaning import ColumnNames
    from genre_hf.data.sources import Source
    from tests.conftest import HUB_TOKEN

    (tmp_path / "ds" / "data").mkdir(parents=True)
    _parquet_with_bad_rows(data_dir, tmp_path / "ds" / "data" / "train-00000-of-00001.parquet", rows=100)
    api = HfApi(token=HUB_TOKEN)
    api.create_repo("user/movies", repo_type="dataset")
    api.upload_folder(folder_path=tmp_path / "ds", repo_id="user/movies", repo_type="dataset")
    assert Source.of("user/movies").count() == 104
    columns, config = ColumnNames.parse("id=movie_id,overview=plot,poster=image"), tiny_config()
    streamed, report = load_movies("user/movies", columns=columns, split=config.split, streaming=True)
    loaded, loaded_report = load_movies("user/movies", columns=columns, split=config.split)
    source = Source.of("user/movies").fingerprint(columns)
    assert source["revision"] == api.dataset_info("user/movies").sha
    stream = prepare(config, streamed, log=lambda message: None, input="stream", cache_dir=tmp_path / "cache", source=source,
                     report=report)
    memory = prepare(config, loaded, log=lambda message: None, input="memory")
    for name, in_memory in memory.splits.items():
        assert stream.splits[name].ids == in_memory.ids
        np.testing.assert_array_equal(np.asarray(stream.splits[name].inputs["poster"]), in_memory.inputs["poster"])
    assert report.to_dict()["skipped"] == loaded_report.to_dict()["skipped"] and report.rows_in == 104


def test_the_input_is_chosen_by_the_size_of_the_features():
    said = []
    assert choose_input("auto", 5_000, 12_600, said.append) == "memory"
    assert choose_input("auto", 100_000, 150_600, said.append) == "stream"
    assert choose_input("auto", None, 12_600, said.append) == "stream"
    assert choose_input("memory", 10**7, 150_600, said.append) == "memory"
    assert "0.06 GB, under the 1 GB limit" in said[0] and "14.03 GB, over" in said[1] and "not known" in said[2]
    assert MEMORY_LIMIT == 2**30
    with pytest.raises(ValueError, match="input must be one of"):
        choose_input("disk", 10, 10)


def test_npy_files_written_in_chunks_read_as_arrays(tmp_path):
    writer = NpyWriter(tmp_path / "a.npy", (3, 2), "int32")
    rows = np.arange(60, dtype=np.int32).reshape(10, 3, 2)
    writer.append(rows[:4])
    writer.append(rows[4:])
    writer.close()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), rows)  # a standard .npy file
    array = NpyArray(tmp_path / "a.npy")
    assert len(array) == 10 and array.shape == (10, 3, 2)
    np.testing.assert_array_equal(array[2:7], rows[2:7])
    np.testing.assert_array_equal(array[-1], rows[-1])
    np.testing.assert_array_equal(np.stack(list(array)), rows)
    with pytest.raises(ValueError, match="rows of shape"):
        NpyWriter(tmp_path / "b.npy", (3, 2), "int32").append(np.zeros((1, 2, 3), np.int32))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="truncated or damaged"):
        NpyArray(tmp_path / "a.npy")


MEMORY_PROBE = """
import json, re, sys
from genre_hf.config import GenreConfig
from genre_hf.data.loader import load_movies
from genre_hf.features.featurizer import Featurizer, movie_features
from genre_hf.modeling.encoders.poster_cnn import PosterCnnSettings
from genre_hf.modeling.tokenizer import Tokenizer, TokenSettings
from genre_hf.features.cache import cached_features

def peak_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

def reset_peak():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

source, cache = sys.argv[1], sys.argv[2]
movies, _ = load_movies(source)
movies = movies["train"]
config = GenreConfig(genres=sorted({g for row in movies["genres"] for g in row}), poster=PosterCnnSettings(image_size=128),
                     tokens=TokenSettings(sequence_length=64))
tokenizer = Tokenizer.adapt(config.tokens, movies["overview"])
featurizer = Featurizer(config, config.encoders(tokenizer), tokenizer)
key = {"split": "warm-up"}
cached_features(movies.select(range(300)), featurizer, key, cache, log=lambda m: None)  # TensorFlow and the decoder warmed up
growth = {}
for name, build in (("stream", lambda: cached_features(movies, featurizer, {"split": "all"}, cache, log=lambda m: None)),
                    ("memory", lambda: movie_features(movies, featurizer))):
    before = reset_peak()
    features = build()
    growth[name] = (peak_kb() - before) * 1024
    del features
print(json.dumps({"movies": len(movies), "growth": growth}))
""" + END_SCRIPT


def test_building_the_cache_takes_flat_memory(data_dir, tmp_path):
    """The train split of 3,000 movies (~2,270) at 128 px is ~110 MB of posters: in memory it takes
    all of that (and a copy while the chunks are joined); building the cache takes a few chunks'
    worth (256 movies, 12.6 MB each), whatever the number of movies. Measured as the growth of the
    peak RSS of a fresh process (VmHWM, reset through /proc/self/clear_refs)."""
    from benchmarks.scaling import write_copies

    synthetic = write_copies(write_subset(data_dir, tmp_path / "real", rows=600), tmp_path / "synthetic", copies=5)
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(synthetic), str(tmp_path / "cache")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    movies, growth = measured["movies"], measured["growth"]
    poster_bytes = movies * 128 * 128 * 3
    assert movies > 2000
    assert growth["memory"] > poster_bytes  # the probe sees memory grow when it does
    assert growth["stream"] < 64 * 2**20, growth
