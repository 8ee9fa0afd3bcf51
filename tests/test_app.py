"""The app end to end: served by Gradio, called over HTTP with gradio_client, real posters and overviews."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import free_port, running_app

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("poster", "overview", "fusion")


def app_config(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=10) as response:
        return json.load(response)


def example_samples(config: dict) -> list:
    return [s for c in config["components"] if c["type"] == "dataset" for s in c["props"]["samples"]]


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def app_url(classifier, tiny_model_dir):
    """The page as app.py builds it, served in this process; no data set, so no examples."""
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    demo = build_demo(classifier)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def predict(client, poster, overview):
    return client.predict(handle_file(str(poster)) if poster else None, overview, api_name="/predict")


def assert_serving(client, sample_movie):
    poster, overview, _ = sample_movie
    result = predict(client, poster, overview)
    assert all("probabilities" in result[name] for name in MODELS), result


def test_all_three_models_answer_with_every_genre(client, classifier, sample_movie):
    poster, overview, _ = sample_movie
    result = predict(client, poster, overview)
    assert result["errors"] == []
    for name in MODELS:
        probabilities = result[name]["probabilities"]
        assert set(probabilities) == set(classifier.genres)
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        assert list(probabilities.values()) == sorted(probabilities.values(), reverse=True)
        thresholds, cap = classifier.calibration[name]["thresholds"], classifier.calibration[name]["max_genres"]
        assert result[name]["genres"] == [g for g, p in probabilities.items() if p >= thresholds[g]][:cap]


def test_one_input_runs_the_models_it_can_and_the_others_say_what_they_need(client, sample_movie):
    poster, overview, _ = sample_movie
    result = predict(client, poster, "")
    assert "probabilities" in result["poster"] and "probabilities" in result["fusion"]
    assert result["overview"] == {"needs": ["overview"], "message": "Needs an overview"}
    assert result["errors"] == [] and "poster alone" in result["notes"][0]

    result = predict(client, None, overview)
    assert "probabilities" in result["overview"] and "probabilities" in result["fusion"]
    assert result["poster"]["message"] == "Needs a poster"

    result = predict(client, None, "   ")
    assert result["errors"] == ["Give a poster, an overview or both."]
    assert all("needs" in result[name] for name in MODELS)


def test_bad_posters_give_a_clear_message_and_the_overview_still_answers(client, sample_movie, tmp_path):
    poster, overview, _ = sample_movie
    text = tmp_path / "not_a_poster.jpg"
    text.write_text("this is a text file, not an image\n")
    truncated = tmp_path / "truncated.jpg"
    data = Path(poster).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for bad, words in ((text, "not_a_poster.jpg is not a readable image"), (truncated, "truncated")):
        result = predict(client, bad, overview)
        assert len(result["errors"]) == 1 and result["errors"][0].startswith("Poster ignored: ")
        assert words in result["errors"][0] and "/gradio/" not in result["errors"][0]
        assert result["poster"]["message"] == "Needs a readable poster"
        assert "probabilities" in result["overview"]
        assert_serving(client, sample_movie)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns beyond 89M pixels, as it should
def test_a_10000_pixel_square_poster_is_predicted(client, sample_movie, tmp_path):
    huge = tmp_path / "huge.jpg"
    Image.new("RGB", (10_000, 10_000), (150, 20, 30)).save(huge, quality=70)
    result = predict(client, huge, "")
    assert result["errors"] == [] and "probabilities" in result["poster"]
    assert_serving(client, sample_movie)


def test_odd_overviews_are_predicted_with_a_note(client, sample_movie):
    poster, overview, _ = sample_movie
    long = predict(client, None, (overview + " ") * (100_000 // (len(overview) + 1) + 1))
    assert "probabilities" in long["overview"] and "the overview models read the first" in long["notes"][0]
    foreign = predict(client, poster, "🎬🔥 東京の若い侍が、父の仇を討つために旅に出る。😱")
    assert all("probabilities" in foreign[name] for name in MODELS)
    assert "vocabulary" in foreign["notes"][0]
    assert_serving(client, sample_movie)


def test_twenty_concurrent_calls_all_succeed(client, data_dir):
    import csv

    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        movies = [row for _, row in zip(range(20), csv.DictReader(handle))]

    def call(movie):
        return predict(client, data_dir / "Images" / f"{movie['Id']}.jpg", movie["Overview"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, movies))
    assert len(results) == 20
    assert all(result["errors"] == [] and "probabilities" in result["fusion"] for result in results)


def test_no_data_no_examples_and_no_analytics(app_url):
    config = app_config(app_url)
    assert example_samples(config) == []
    assert config["analytics_enabled"] is False


def test_examples_are_test_movies(classifier, data_dir):
    from genre_hf.app.examples import example_movies

    movies = example_movies(data_dir, classifier.config)
    assert len(movies) == 8
    for movie in movies:
        movie_id = Path(movie["poster"]).stem
        assert classifier.config.split.of(movie_id) == "test"
        assert movie["genres"] and movie["title"] and movie["overview"]
    assert example_movies(data_dir / "missing", classifier.config) == []


def test_a_test_movie_whose_poster_does_not_decode_is_never_an_example(classifier, data_dir, tmp_path):
    """The examples decode only the posters they look at: the first candidate's poster, broken, is
    passed over as the loader would have dropped it, and the rest are the loader's clean movies."""
    from genre_hf.app.examples import example_movies
    from genre_hf.data.loader import load_movies
    from tests.conftest import write_subset

    folder = write_subset(data_dir, tmp_path / "imdb", rows=300)
    before = example_movies(folder, classifier.config)
    broken = folder / "Images" / Path(before[0]["poster"]).name
    broken.unlink()
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG past its first bytes")
    after = example_movies(folder, classifier.config)
    assert len(before) == len(after) == 8 and before[0] not in after and after[:7] == before[1:]
    clean, _ = load_movies(folder, split=classifier.config.split)
    assert [movie["poster"] for movie in after] == [str(folder / "Images" / f"{i}.jpg") for i in clean["test"]["id"][:8]]


def test_app_py_serves_the_model_from_the_environment_with_examples(tiny_model_dir, data_dir, sample_movie):
    """`python app.py`: the model from GENRE_HF_MODEL, examples from GENRE_HF_DATA, --port honoured."""
    port = free_port()
    env = dict(os.environ, GENRE_HF_MODEL=str(tiny_model_dir), GENRE_HF_DATA=str(data_dir))
    env.pop("GRADIO_ANALYTICS_ENABLED", None)  # app.py turns analytics off by itself
    uploads = Path(os.environ["GRADIO_TEMP_DIR"])
    with running_app(ROOT, env, port) as (url, _):
        assert url == f"http://127.0.0.1:{port}"
        config = app_config(url)
        assert config["analytics_enabled"] is False
        samples = example_samples(config)
        assert len(samples) == 8 and all(" · " in sample[1] for sample in samples)
        assert_serving(Client(url, verbose=False), sample_movie)
        private = list(uploads.glob("genre-hf-app-*"))  # the app's own folder: no other app deletes from it
        assert len(private) == 1 and sample_movie[0].name in {path.name for path in private[0].rglob("*")}
    assert not private[0].exists()  # removed when the app stopped (SIGTERM)


def test_uploads_are_deleted_once_they_are_old(classifier, tiny_model_dir, sample_movie):
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    demo = build_demo(classifier, delete_uploads=(1, 2))
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert "probabilities" in predict(Client(url, verbose=False), sample_movie[0], "")["poster"]
        uploads = [Path(f) for files in demo.temp_file_sets for f in files if Path(f).name == sample_movie[0].name]
        assert uploads and all(f.exists() for f in uploads)
        deadline = time.time() + 15
        while any(f.exists() for f in uploads) and time.time() < deadline:
            time.sleep(0.5)
        assert not any(f.exists() for f in uploads)
    finally:
        demo.close()


def test_a_busy_port_is_refused_before_the_model_loads(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, GENRE_HF_MODEL=str(tmp_path))  # no model there: the port must be checked first
        result = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port N or PORT=N" in result.stderr


def test_app_help_names_the_environment_and_the_lookup_order():
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for words in ("GENRE_HF_MODEL", "GENRE_HF_DATA", "PORT", "space_config.json", "./artifacts/model", "genre-hf/imdb-genres"):
        assert words in result.stdout, words


def test_a_model_that_cannot_be_loaded_stops_the_app_with_one_clear_line(tmp_path):
    env = dict(os.environ, GENRE_HF_MODEL=str(tmp_path))  # a folder, but no model in it
    result = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port())], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "is not a complete genre_hf model folder: missing config.json" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_the_comparison_groups_genres_by_who_lists_them_and_words_agree_with_the_listing():
    from genre_hf.app.compare import certainty, comparison_table, verdict

    answer = {
        "poster": {"probabilities": {"Drama": 0.62, "Horror": 0.29, "Comedy": 0.10}, "genres": ["Drama", "Horror"]},
        "overview": {"probabilities": {"Drama": 0.81, "Horror": 0.05, "Comedy": 0.52}, "genres": ["Drama", "Comedy"]},
        "fusion": {"probabilities": {"Drama": 0.77, "Horror": 0.12, "Comedy": 0.33}, "genres": ["Drama"]},
    }
    assert verdict(answer, ["poster", "overview", "fusion"]) == "**All three:** Drama · **Poster only:** Horror · **Overview only:** Comedy"
    # A listed genre is at least "possible" (its model's tuned threshold may be far below 30 %); an unlisted one has no
    # word of certainty, however likely.
    assert [certainty(p, listed=True) for p in (0.75, 0.74, 0.5, 0.49, 0.29, 0.02)] == [
        "very likely", "likely", "likely", "possible", "possible", "possible"]
    assert certainty(0.9, listed=False) == certainty(0.29, listed=False) == "not listed"
    table = comparison_table(answer, truth=["Drama", "Thriller"])  # a true genre the models do not know is left out
    rows = re.findall(r"<tr><th scope='row'>(\w+)</th>(.*?)</tr>", table)
    assert [genre for genre, _ in rows] == ["Drama", "Comedy", "Horror"]  # listed genres, by their best probability
    drama = rows[0][1]
    assert "<b>62%</b> <span class='word'>likely</span>" in drama and "<b>81%</b> <span class='word'>very likely</span>" in drama
    assert drama.endswith("<td class='truth'>yes</td>") and "<td class='unlisted' title='not listed'>10%</td>" in rows[1][1]
    horror = rows[2][1]  # listed by the poster model at 29 %, not by the fusion model at 12 %
    assert "<b>29%</b> <span class='word'>possible</span>" in horror and "<td class='unlisted' title='not listed'>12%</td>" in horror
    assert "long shot" not in table
    assert "Thriller" not in table and "True" in table and "True" not in comparison_table(answer)


def test_make_app_serves_each_family_trained_here(tmp_path):
    """`make app` (as `make -n` prints it): both families when both are trained, so visitors can switch; the one
    trained otherwise; $GENRE_HF_MODEL when set; the from-scratch family, trained first, when neither is."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    scratch, pretrained = tmp_path / "model", tmp_path / "model-pretrained"

    def app_command(**environment) -> str:
        env = {name: value for name, value in os.environ.items() if name not in ("GENRE_HF_MODEL", "MAKEFLAGS")} | environment
        done = subprocess.run(["make", "-n", "app", f"OUT={scratch}", f"OUT_PRETRAINED={pretrained}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def served(**environment) -> str:
        line = next(line for line in app_command(**environment).splitlines() if "genre-hf app" in line)
        return re.search(r'GENRE_HF_MODEL="([^"]*)"', line).group(1)

    untrained = app_command()
    assert re.search(rf"genre-hf train --data \S+ --out {re.escape(str(scratch))}", untrained) and served() == str(scratch)
    for folder in (scratch, pretrained):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    assert served() == f"{scratch},{pretrained}" and "genre-hf train" not in app_command()
    (scratch / "config.json").unlink()
    assert served() == str(pretrained)
    assert served(GENRE_HF_MODEL="user/imdb-genres,user/pretrained") == "user/imdb-genres,user/pretrained"


def test_the_word_legend_keeps_a_hyphenated_word_and_the_model_name_whole():
    """On a phone the legend's line wraps; a quoted word and a model name never break at their hyphens
    (the browser test met "hard-to-please" split across two lines in a real overview)."""
    from genre_hf.app.explain_view import word_legend

    answer = {"genre": "Comedy", "word_scores": {"overview": {
        "title": "Overview all-MiniLM-L6-v2", "probability": 0.39, "words": [("hard-to-please", 0.05), ("a", -0.0123)]}}}
    legend = word_legend(answer)
    assert "**Overview all\u2011MiniLM\u2011L6\u2011v2** (39%): for: hard\u2011to\u2011please +0.050 · against: a -0.012" in legend
    assert "-to-" not in legend
