"""MM-IMDb's release layout through the loader every source goes through: the official split kept (dev is
validation), the longest plot, the genres from the data; folders built from the real shared data."""

import json

import pytest
from huggingface_hub import ModelCard

from genre_hf.data.loader import collect_genres, load_movies, stream_movies
from genre_hf.data.sources import Source
from genre_hf.data.splits import SplitSpec
from genre_hf.evaluation.published import GMU
from tests.conftest import tiny_config, write_mmimdb


@pytest.fixture(scope="module")
def release(data_dir, tmp_path_factory):
    return write_mmimdb(data_dir, tmp_path_factory.mktemp("mmimdb") / "mmimdb", rows=160)


def test_the_official_split_is_kept(release):
    folder, split = release
    movies, report = load_movies(folder)
    skipped = {movie_id for examples in report.skipped_examples.values() for movie_id in examples}
    expected = {ours: [i for i in split[theirs] if i not in skipped] for theirs, ours in (("train", "train"), ("dev", "validation"), ("test", "test"))}
    assert {name: list(movies[name]["id"]) for name in movies} == expected
    assert report.split_rule == "given by the source" and report.rows_in == 160
    # The official cut is by position: our id hash would have put some of these movies elsewhere.
    assert any(SplitSpec().of(movie_id) != "validation" for movie_id in split["dev"])
    assert Source.of(folder).count() == 160 and Source.of(folder).name == "MM-IMDb"


def test_the_longest_plot_is_the_overview_and_genres_come_from_the_data(release, data_dir):
    folder, split = release
    movies, report = load_movies(folder)
    first = movies["train"][0]
    plots = json.loads((folder / "dataset" / f"{first['id']}.json").read_text())["plot"]
    assert first["overview"] == max(plots, key=len) and first["overview"] != plots[0]
    assert "longest plot" in str(report) and "gmu-mmimdb" in str(report)
    train_genres = {g for movie_id in movies["train"]["id"] for g in json.loads((folder / "dataset" / f"{movie_id}.json").read_text())["genres"]}
    assert collect_genres(movies["train"]) == sorted(train_genres)
    assert movies["train"][0]["poster"].size[1] == 128  # the poster is read from dataset/<id>.jpeg


def test_broken_movies_are_skipped_and_counted(data_dir, tmp_path):
    folder, split = write_mmimdb(data_dir, tmp_path / "mmimdb", rows=30)
    no_poster, no_plot = split["train"][0], split["train"][1]
    (folder / "dataset" / f"{no_poster}.jpeg").unlink()
    meta = json.loads((folder / "dataset" / f"{no_plot}.json").read_text())
    del meta["plot"]
    (folder / "dataset" / f"{no_plot}.json").write_text(json.dumps(meta))
    movies, report = load_movies(folder)
    assert report.skipped["missing poster"] == 1 and report.skipped["empty overview"] == 1
    assert no_poster not in movies["train"]["id"] and no_plot not in movies["train"]["id"]


def test_a_split_file_that_is_not_the_release_is_a_clear_error(data_dir, tmp_path):
    folder, _ = write_mmimdb(data_dir, tmp_path / "mmimdb", rows=10)
    (folder / "split.json").write_text('["not", "a", "split"]')
    with pytest.raises(ValueError, match=r"split.json must be a JSON object with \['dev', 'test', 'train'\] id lists"):
        load_movies(folder)


def test_prediction_streams_one_official_split(release):
    folder, split = release
    rows, total = stream_movies(folder, split="test")
    assert total == len(split["test"]) and [row["id"] for row in rows] == split["test"]
    with pytest.raises(ValueError, match="no split 'dev'"):
        stream_movies(folder, split="dev")  # our name for it is validation


def test_training_on_mmimdb_reports_it_beside_the_published_figures(release, tmp_path):
    from genre_hf.pipeline import train_and_save

    folder, split = release
    out = tmp_path / "model"
    train_and_save(str(folder), out, config=tiny_config(epochs=1), log=lambda message: None)
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["name"] == "MM-IMDb" and results["data"]["split_rule"] == "given by the source"
    assert results["split"] == "test" and results["used_in_training"] is False
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets is None  # a local folder, not a Hub dataset id
    gmu = GMU["models"]["GMU (poster + plot)"]
    assert GMU["citation"] in card.text and f"| GMU (poster + plot) | {gmu['macro_f1']:.3f} | {gmu['micro_f1']:.3f} |" in card.text
    assert "official train/dev/test split" in card.text and "given by the source" in card.text
