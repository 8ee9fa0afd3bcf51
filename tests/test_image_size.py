"""Poster size is a config value: 128 and 224 px models train, save, load, predict and evaluate at
their own size, and `genre-hf train --image-size` sets it."""

import json

import numpy as np
import pytest
from PIL import Image

from genre_hf import GenreClassifier
from genre_hf.cli import main
from genre_hf.cli.evaluate import evaluate
from genre_hf.data.loader import load_movies
from tests.conftest import tiny_config, write_subset


@pytest.fixture(scope="module")
def small_dir(data_dir, tmp_path_factory):
    return write_subset(data_dir, tmp_path_factory.mktemp("small") / "imdb", rows=160)


def test_a_128_px_model_end_to_end(small_dir, tmp_path, sample_movie, capsys):
    from genre_hf.pipeline import train_and_save

    out = tmp_path / "model"
    config = tiny_config(epochs=1, poster={"image_size": 128})
    train_and_save(str(small_dir), out, config=config, log=lambda message: None)
    assert json.loads((out / "config.json").read_text())["poster"]["image_size"] == 128
    assert json.loads((out / "training_report.json").read_text())["image_size"] == 128

    classifier = GenreClassifier.from_pretrained(out)
    assert classifier.featurizer.image_size == 128 and classifier.models["poster"].input_shape == (None, 128, 128, 3)
    poster, overview, _ = sample_movie
    from_path = classifier.predict(poster=poster, overview=overview)
    # the poster is resized to 128 px however it is given: its decoded picture as an array answers as its file does
    picture = Image.open(poster).convert("RGB")
    same = classifier.predict(poster=np.asarray(picture), overview=overview)
    assert same["poster"]["probabilities"] == pytest.approx(from_path["poster"]["probabilities"], abs=1e-6)

    assert main(["predict", "--model", str(out), "--data", str(small_dir), "--output", str(tmp_path / "p.jsonl"), "--no-progress"]) == 0
    predictions = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(predictions) == 160 and set(predictions[0]["fusion"]["probabilities"]) == set(classifier.genres)
    report = evaluate(str(out), str(small_dir), split="test", log=lambda message: None)
    assert report["movies"] > 0 and 0 < report["models"]["poster"]["map"] <= 1


def test_a_224_px_poster_model_trains_saves_loads_predicts_and_evaluates(small_dir, tmp_path, sample_movie):
    from genre_hf.training.trainer import TrainOptions, train_all

    config = tiny_config(epochs=1, poster={"image_size": 224})
    movies, _ = load_movies(small_dir, split=config.split)
    run = train_all(config, movies, log=lambda message: None, only=("poster",), options=TrainOptions(input="stream", cache_dir=str(tmp_path / "cache")))
    assert run.train.inputs["poster"].shape[1:] == (224, 224, 3) and len(run.fits["poster"].history["loss"]) == 1
    GenreClassifier.from_run(run).save_pretrained(tmp_path / "model")
    classifier = GenreClassifier.from_pretrained(tmp_path / "model")
    assert classifier.config.image_size == 224 and classifier.models["poster"].input_shape == (None, 224, 224, 3)
    posters = run.validation.inputs["poster"][:8]  # read from the cache
    np.testing.assert_allclose(classifier.raw_probabilities("poster", {"poster": posters}),
                               run.models["poster"]({"poster": posters}, training=False), atol=1e-6)
    poster, _, _ = sample_movie
    assert len(classifier.predict(poster=poster)["poster"]["probabilities"]) == run.config.num_genres
    report = evaluate(str(tmp_path / "model"), str(small_dir), split="validation", log=lambda message: None, input="stream",
                      cache_dir=str(tmp_path / "cache"))
    assert report["movies"] == len(run.validation) and 0 < report["models"]["poster"]["map"] <= 1


def test_the_train_command_takes_the_poster_size_and_the_scaling_options(monkeypatch, tmp_path):
    import genre_hf.pipeline

    seen = {}

    def fake_train(data, out, config=None, columns=None, options=None):
        seen.update(config=config, options=options)
        return None  # as a worker that is not the chief

    monkeypatch.setattr(genre_hf.pipeline, "train_and_save", fake_train)
    (tmp_path / "IMDB_overview_genres.csv").write_text("Id,Genre,Overview\n")  # a data folder: the command checks it first
    argv = ["train", "--data", str(tmp_path), "--image-size", "224", "--input", "stream", "--cache-dir", str(tmp_path / "c"),
            "--strategy", "mirrored", "--cpu-devices", "2", "--no-lr-scaling"]
    assert main(argv) == 0
    assert seen["config"].image_size == 224
    options = seen["options"]
    assert (options.input, options.cache_dir, options.strategy, options.cpu_devices, options.scale_learning_rate) == (
        "stream", str(tmp_path / "c"), "mirrored", 2, False)
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--image-size", "100"])
