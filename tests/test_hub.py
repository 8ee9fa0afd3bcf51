"""GenreClassifier: folder and Hub round trips, the card, predict's inputs, and a Hub dataset."""

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from huggingface_hub import HfApi, ModelCard
from PIL import Image

from genre_hf import GenreClassifier
from genre_hf.hub.folder import MODEL_FILES, FolderError
from tests.conftest import END_SCRIPT
from tests.conftest import HUB_TOKEN as TOKEN
from tests.hub_server import HubServer, hub_env, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
PREDICT_SCRIPT = """
import json, sys
from genre_hf import GenreClassifier
clf = GenreClassifier.from_pretrained(sys.argv[1])
print(json.dumps(clf.predict(poster=sys.argv[2], overview=sys.argv[3])))
""" + END_SCRIPT


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return GenreClassifier.from_pretrained(tiny_model_dir)


def probabilities(result):
    return {name: result[name]["probabilities"] for name in result}


def test_predict_shapes_and_thresholds(classifier, sample_movie):
    poster, overview, _ = sample_movie
    both = classifier.predict(poster=poster, overview=overview)
    assert set(both) == {"poster", "overview", "fusion"}
    for name, result in both.items():
        assert set(result["probabilities"]) == set(classifier.genres)
        values = list(result["probabilities"].values())
        assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
        thresholds, cap = classifier.calibration[name]["thresholds"], classifier.calibration[name]["max_genres"]
        over = [g for g, p in result["probabilities"].items() if p >= thresholds[g]]  # most likely first
        assert result["genres"] == over[:cap] and (cap is None or len(result["genres"]) <= cap)
        assert result["notes"] == []
    poster_only = classifier.predict(poster=poster)
    assert set(poster_only) == {"poster", "fusion"} and "poster alone" in poster_only["fusion"]["notes"][0]
    assert all(0 < p < 1 for p in poster_only["fusion"]["probabilities"].values())  # the blanked overview leaks no NaN
    assert poster_only["poster"] == both["poster"]
    assert poster_only["fusion"]["probabilities"] != both["fusion"]["probabilities"]  # the overview is blanked, not ignored
    assert set(classifier.predict(overview=overview)) == {"overview", "fusion"}
    assert classifier.predict(poster=poster, overview="   ").keys() == {"poster", "fusion"}


def test_batch_is_the_same_as_one_by_one(classifier, data_dir, sample_movie):
    posters = sorted((data_dir / "Images").iterdir())[:3]
    overviews = [sample_movie[1], "A detective hunts a killer.", "Two friends fall in love in Paris."]
    batch = classifier.predict(poster=posters, overview=overviews)
    assert len(batch) == 3
    for poster, overview, result in zip(posters, overviews, batch):
        single = classifier.predict(poster=poster, overview=overview)
        for name in single:
            for genre, p in single[name]["probabilities"].items():
                assert result[name]["probabilities"][genre] == pytest.approx(p, abs=1e-5)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK"])
def test_any_poster_mode_and_size(classifier, sample_movie, mode):
    image = Image.open(sample_movie[0]).convert(mode).resize((300, 77))
    assert set(classifier.predict(poster=image)) == {"poster", "fusion"}
    assert set(classifier.predict(poster=np.asarray(image.convert("RGB")), overview="A heist.")) == {"poster", "overview", "fusion"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give a poster"),
        ({"overview": ""}, "give a poster"),
        ({"poster": b"not an image"}, "not a readable image"),
        ({"poster": "/missing/poster.jpg"}, "not found"),
        ({"poster": ["/missing.jpg"], "overview": ["a", "b"]}, "equal length"),
        ({"overview": ["fine", ""]}, "overview 1 is empty"),
        ({"overview": 12}, "must be a string"),
    ],
)
def test_bad_inputs_are_value_errors(classifier, kwargs, message):
    with pytest.raises(ValueError, match=message):
        classifier.predict(**kwargs)


def test_folder_round_trip_is_identical(classifier, tmp_path, sample_movie):
    poster, overview, _ = sample_movie
    before = classifier.predict(poster=poster, overview=overview)
    classifier.save_pretrained(tmp_path / "copy")
    for name in (*MODEL_FILES, "README.md", "benchmark.json", "training_curves.png"):
        assert (tmp_path / "copy" / name).is_file(), name
    assert not list((tmp_path / "copy").glob("*.pkl")) and not list((tmp_path / "copy").glob("*.keras"))
    after = GenreClassifier.from_pretrained(tmp_path / "copy").predict(poster=poster, overview=overview)
    assert probabilities(after) == probabilities(before)


def test_a_newer_format_version_is_a_clear_error(classifier, tmp_path):
    classifier.save_pretrained(tmp_path / "future")
    config = json.loads((tmp_path / "future" / "config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "future" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json: format version 99 is newer: .* reads format version 4; upgrade genre_hf"):
        GenreClassifier.from_pretrained(tmp_path / "future")


def test_card_metadata_holds_the_report_numbers(tiny_model_dir):
    card = ModelCard.load(tiny_model_dir / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "genre_hf" and data["pipeline_tag"] == "text-classification"
    assert data["license"] == "other" and "keras" in data["tags"]
    assert "datasets" not in data  # trained from a folder: only a Hub dataset id belongs there
    report = json.loads((tiny_model_dir / "benchmark.json").read_text())
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    test = report["test"]  # the card headlines the split nothing was tuned on
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}
    for key, title in (("poster", "Poster CNN"), ("overview", "Overview LSTM"), ("fusion", "Fusion")):
        assert results[f"{title} mAP"] == pytest.approx(test["models"][key]["map"], abs=1e-4)
        assert results[f"{title} micro F1 (tuned thresholds)"] == pytest.approx(test["models"][key]["tuned"]["micro_f1"], abs=1e-4)
    assert "research and educational use only" in card.text
    assert "GenreClassifier.from_pretrained" in card.text


def test_push_and_load_by_repo_id_in_a_fresh_process(classifier, hub, tmp_path, sample_movie, monkeypatch):
    poster, overview, _ = sample_movie
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the usual token source
    url = classifier.push_to_hub("user/imdb-genres", private=True)
    assert "user/imdb-genres" in str(url)
    # The weights and plots took the LFS path real weight files take (batch API, PUT, lfsFile commit).
    tree = HfApi(token=TOKEN).list_repo_tree("user/imdb-genres")
    in_lfs = {entry.path: entry.lfs.sha256 for entry in tree if getattr(entry, "lfs", None)}
    weights = [name for name in MODEL_FILES if name.endswith(".weights.h5")]
    assert set(weights) | {"training_curves.png"} <= set(in_lfs) and "config.json" not in in_lfs
    assert {upload["oid"] for upload in hub.lfs_uploads} == set(in_lfs.values())
    # Private: without a token the repo is "not found", as on the Hub.
    with pytest.raises(FolderError, match=r"no Hub repo user/imdb-genres \(or it is private: pass token= or set HF_TOKEN\)"):
        GenreClassifier.from_pretrained("user/imdb-genres", token=False)
    env = subprocess_env(hub, tmp_path / "fresh_home")  # a fresh process gets no token from us...
    env["HF_TOKEN"] = TOKEN  # ...so it gives its own, as a user (or a Space's secret) must
    run = lambda: subprocess.run([sys.executable, "-c", PREDICT_SCRIPT, "user/imdb-genres", str(poster), overview],
                                 env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    first = run()
    assert first.returncode == 0, first.stderr[-2000:]
    expected = classifier.predict(poster=poster, overview=overview)
    loaded = json.loads(first.stdout.strip().splitlines()[-1])
    for name in expected:
        for genre, p in expected[name]["probabilities"].items():
            assert loaded[name]["probabilities"][genre] == pytest.approx(p, abs=1e-6)
    cached = sorted(p.name for p in (tmp_path / "fresh_home" / "hub").rglob("*") if p.is_file() and "snapshots" in p.parts)
    assert "model.weights.h5" in cached and "README.md" in cached
    hub.stop()  # a restarted Space must come up from the cache alone
    env["HF_HUB_OFFLINE"] = "1"
    second = run()
    assert second.returncode == 0, second.stderr[-2000:]


def test_a_failed_push_leaves_the_folder_and_says_why(classifier, tmp_path, monkeypatch):
    from genre_hf.cli.train import push

    server = HubServer(tmp_path / "root", token=TOKEN).start()
    hub_env(monkeypatch, server, tmp_path / "home")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    messages = []
    assert push(classifier, "user/denied", private=False, log=messages.append) is None  # no token: 401
    server.stop()
    assert "failed" in messages[0] and "intact" in messages[1]
    assert all((classifier.files_dir / name).is_file() for name in MODEL_FILES)


def test_train_from_a_hub_dataset_repo_and_push(hub, subset_dir, tmp_path):
    from genre_hf.data.loader import load_movies

    movies, _ = load_movies(subset_dir)
    (tmp_path / "ds" / "data").mkdir(parents=True)
    mixed = datasets.concatenate_datasets([movies["train"].select(range(130)), movies["validation"].select(range(30))])
    mixed.to_parquet(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet")
    api = HfApi(token=TOKEN)
    api.create_repo("user/some-dataset", repo_type="dataset", private=True)
    api.upload_folder(folder_path=tmp_path / "ds", repo_id="user/some-dataset", repo_type="dataset")

    env = subprocess_env(hub, tmp_path / "train_home")
    env["HF_TOKEN"] = TOKEN
    out = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, "train.py", "--data", "user/some-dataset", "--out", str(out), "--epochs", "1",
         "--push-to-hub", "user/from-dataset", "--private"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Loaded 160 of 160 movies from user/some-dataset" in result.stdout
    assert "Pushed to user/from-dataset" in result.stdout
    files = {sibling.rfilename for sibling in api.model_info("user/from-dataset").siblings}
    assert set(MODEL_FILES) <= files and "README.md" in files and "results.json" in files
    # The card names the Hub dataset, at the revision trained on, and the repo it was pushed to.
    card = ModelCard.load("user/from-dataset", token=TOKEN)
    revision = api.dataset_info("user/some-dataset").sha
    assert card.data.datasets == ["user/some-dataset"] and 'from_pretrained("user/from-dataset")' in card.text
    assert {(r.dataset_type, r.dataset_revision) for r in card.data.eval_results} == {("user/some-dataset", revision)}
    results = json.loads(Path(api.hf_hub_download("user/from-dataset", "results.json", cache_dir=tmp_path / "dl")).read_text())
    assert results["data"]["kind"] == "hub" and results["data"]["revision"] == revision


def test_repeated_calls_give_the_same_probabilities_on_litert_and_keras(tiny_model_dir, sample_movie):
    """A loaded folder answers on LiteRT (model.tflite), the Keras models unbuilt: the same input gets
    exactly the same answer whichever call it is. The Keras models, built when asked for, trace once
    for any batch size and give the same answers to 1e-6 (float32 rounding in other kernels)."""
    poster, overview, _ = sample_movie
    clf = GenreClassifier.from_pretrained(tiny_model_dir)
    first = clf.predict(poster=[poster, poster], overview=[overview, "A heist goes wrong."])
    assert clf._network is None and clf.lite is not None
    second = clf.predict(poster=[poster, poster], overview=[overview, "A heist goes wrong."])
    single = clf.predict(poster=poster, overview=overview)
    assert second == first and clf.predict(poster=poster, overview=overview) == single
    inputs = {**clf.featurizer.poster_inputs(clf._poster_arrays([poster, poster], True)),
              **clf.featurizer.overview_inputs([overview, "A heist goes wrong."])}
    lite, keras_outputs = clf.lite.raw_outputs(inputs), clf.network.raw_outputs(inputs)
    clf.network.raw_outputs({key: value[:1] for key, value in inputs.items()})
    assert clf.network._forward.experimental_get_tracing_count() == 1  # any batch size, no retracing
    for name in lite:
        np.testing.assert_allclose(lite[name], keras_outputs[name], atol=1e-6)
    for name in single:  # another batch size may take other kernels: the same to float32 rounding
        for genre, p in single[name]["probabilities"].items():
            assert first[0][name]["probabilities"][genre] == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o002, 0o775, 0o664), (0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_a_saved_folder_has_the_mode_the_users_umask_gives(classifier, tmp_path, umask, folder_mode, file_mode):
    import os
    import stat

    previous = os.umask(umask)
    try:
        classifier.save_pretrained(tmp_path / "shared")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == folder_mode
    assert {stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "shared").iterdir()} == {file_mode}
