"""Every registered encoder trains, saves, loads, predicts and explains: the test follows the registry
(`modeling.encoders.ENCODERS`), so an encoder added without a way to test it here fails, rather than
going untested."""

from __future__ import annotations

import contextlib

import pytest

from genre_hf.modeling.encoders import ENCODERS
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
    ("overview", "keras_hub"): ({"overview": {"kind": "keras_hub", "layers": [5, 6], "head_units": 32}, "fusion": {"wide_tfidf": False}},
                               preset_served("sentence-transformers/all-MiniLM-L6-v2", lambda request: MINILM)),
    ("poster", "keras_hub"): ({"poster": {"kind": "keras_hub", "preset": "hf://genre-hf-test/tiny-resnet", "head_units": 32}},
                             preset_served("genre-hf-test/tiny-resnet", lambda request: request.getfixturevalue("image_presets")["resnet"])),
    ("poster", "efficientnet_lite"): ({"poster": {"kind": "efficientnet_lite"}}, nothing_to_serve),  # the real weights, at conftest.TINY's size
}


@pytest.fixture(scope="module")
def small_dir(data_dir, tmp_path_factory):
    return write_subset(data_dir, tmp_path_factory.mktemp("encoders") / "imdb", rows=160)


@pytest.fixture(scope="module")
def runs() -> dict:
    """Trainings by their settings: keys whose settings are the same (the default cnn and lstm) share one."""
    return {}


@pytest.mark.parametrize("key", sorted(ENCODERS), ids=lambda key: "-".join(key))
def test_every_registered_encoder_trains_saves_loads_predicts_and_explains(key, small_dir, sample_movie, runs, request, tmp_path):
    from genre_hf import GenreClassifier
    from genre_hf.data.loader import load_movies
    from genre_hf.training.trainer import train_all

    assert key in SETUPS, f"the encoder {key} has no setup in tests/test_encoders.py SETUPS: say how to train it there"
    settings, serve = SETUPS[key]
    config = tiny_config(epochs=1, **settings)
    with serve(request, tmp_path):
        movies, _ = load_movies(small_dir, split=config.split)
        if repr(config) not in runs:
            runs[repr(config)] = train_all(config, movies, log=lambda message: None)
        run = runs[repr(config)]
        assert type(run.prepared.encoders[key[0]]) is ENCODERS[key]
        trained = GenreClassifier.from_run(run)
        trained.save_pretrained(tmp_path / "model")
        loaded = GenreClassifier.from_pretrained(tmp_path / "model")
        poster, overview, _ = sample_movie
        before, after = trained.predict(poster=poster, overview=overview), loaded.predict(poster=poster, overview=overview)
        explained = loaded.explain(poster=poster, overview=overview)
    assert set(after) == {"poster", "overview", "fusion"}
    for name in after:
        for genre, p in after[name]["probabilities"].items():
            assert p == pytest.approx(before[name]["probabilities"][genre], abs=1e-6)
    # The explanation is of this model: its probabilities are predict's, and each side has its evidence.
    genre = explained["genre"]
    for name, p in explained["probabilities"].items():
        assert p == pytest.approx(after[name]["probabilities"][genre], abs=1e-5)
    assert len(explained["word_scores"]["overview"]["words"]) == len(overview.split())
    # Every poster encoder here has a feature map for Grad-CAM: in the models (the CNN) or before them (a frozen
    # backbone's). The map peaks at 1, and the heat map resamples it (bicubic) to the poster, which may round the peak
    # off a little; a map that is zero everywhere (no part of the poster speaks for the genre) says so in a note.
    for name in ("poster", "fusion"):
        heat = explained["heat_maps"][name]["heatmap"]
        assert 0.5 < heat.max() <= 1.0 or (heat.max() == 0 and any("No part of the poster" in n for n in explained["notes"])), name
