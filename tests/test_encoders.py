"""Every registered encoder trains, saves, loads and predicts: the test follows the registry, so an
encoder added without a way to test it here fails, rather than going untested."""

from __future__ import annotations

import contextlib

import pytest

from genre_hf.modeling.encoders import registered_encoders
from tests.conftest import minilm_folder, serving_repo, tiny_config, write_subset

MINILM = minilm_folder()


def preset_served(repo_id: str, folder_of):
    """A setup that serves a preset folder under `repo_id` from a 127.0.0.1 Hub while the test runs."""

    @contextlib.contextmanager
    def serve(request, tmp_path):
        with serving_repo(tmp_path, repo_id, folder_of(request), f"{repo_id.split('/')[0]}-token"):
            yield

    return serve


def nothing_to_serve(request, tmp_path):
    return contextlib.nullcontext()


# (modality, kind) -> (the settings that select the encoder, what must be served while it trains and loads)
SETUPS = {
    ("poster", "cnn"): ({}, nothing_to_serve),
    ("overview", "lstm"): ({}, nothing_to_serve),
    ("overview", "keras_hub"): ({"overview_encoder": "keras_hub", "text_layers": [6], "text_head_units": 32, "wide_tfidf": False},
                               preset_served("sentence-transformers/all-MiniLM-L6-v2", lambda request: MINILM)),
    ("poster", "keras_hub"): ({"poster_encoder": "keras_hub", "image_preset": "hf://genre-hf-test/tiny-resnet", "image_head_units": 32},
                             preset_served("genre-hf-test/tiny-resnet", lambda request: request.getfixturevalue("image_presets")["resnet"])),
}


@pytest.fixture(scope="module")
def small_dir(data_dir, tmp_path_factory):
    return write_subset(data_dir, tmp_path_factory.mktemp("encoders") / "imdb", rows=160)


@pytest.fixture(scope="module")
def runs() -> dict:
    """Trainings by their settings: keys whose settings are the same (the default cnn and lstm) share one."""
    return {}


@pytest.mark.parametrize("key", sorted(registered_encoders()), ids=lambda key: "-".join(key))
def test_every_registered_encoder_trains_saves_loads_and_predicts(key, small_dir, sample_movie, runs, request, tmp_path):
    from genre_hf import GenreClassifier
    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.training.trainer import train_all

    assert key in SETUPS, f"the encoder {key} has no setup in tests/test_encoders.py SETUPS: say how to train it there"
    settings, serve = SETUPS[key]
    config = tiny_config(epochs_poster=1, epochs_overview=1, epochs_fusion=1, **settings)
    with serve(request, tmp_path):
        movies, _ = load_movies(small_dir, split=SplitSpec.from_config(config))
        if repr(config) not in runs:
            runs[repr(config)] = train_all(config, movies, log=lambda message: None)
        run = runs[repr(config)]
        assert type(run.prepared.encoders[key[0]]) is registered_encoders()[key]
        trained = GenreClassifier.from_run(run)
        trained.save_pretrained(tmp_path / "model")
        loaded = GenreClassifier.from_pretrained(tmp_path / "model")
        poster, overview, _ = sample_movie
        before, after = trained.predict(poster=poster, overview=overview), loaded.predict(poster=poster, overview=overview)
    assert set(after) == {"poster", "overview", "fusion"}
    for name in after:
        for genre, p in after[name]["probabilities"].items():
            assert p == pytest.approx(before[name]["probabilities"][genre], abs=1e-6)
