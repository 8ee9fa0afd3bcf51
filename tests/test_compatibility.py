"""A model folder saved by an earlier genre_hf loads and predicts the same today.

The earlier code is taken from this repository's history (the main before the layered package, when
every module sat flat in genre_hf/), run in a subprocess to build and save a folder of each family
(random weights, statistics and calibration of its own, so every file matters), and asked what it
predicts; this code then loads the folder and must answer the same.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import minilm_mirror

ROOT = Path(__file__).resolve().parents[1]
BEFORE_LAYERS = "bcdc764573feee27353f49292f15d90f2ad63bc3"  # main on 2026-12-01, before the package was layered
OVERVIEWS = ["A retired hitman seeks revenge on the gang.", "Two friends fall in love in Paris.", "A detective hunts a killer."]
SAVE_SCRIPT = r"""
import json, sys
import keras
import numpy as np
from genre_hf.config import FAMILIES, GenreConfig
from genre_hf.hub import GenreClassifier

family, out, posters, overviews = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
genres = ["Action", "Comedy", "Crime", "Drama", "Romance"]
words = sorted({word.strip(".").lower() for text in overviews for word in text.split()})
vocabulary = ["", "[UNK]", *words]
settings = dict(genres=genres, sequence_length=12, cnn_filters=[8, 16], cnn_embedding=16, embedding_dim=8, lstm_units=4,
                text_embedding=16, fusion_hidden=16, max_tokens=200)
if family == "pretrained":
    settings.update(FAMILIES["pretrained"], text_layers=[5, 6], text_embedding_dim=768, text_head_units=16, fusion_hidden=16,
                    neighbour_k=3, neighbour_index_size=12)
config = GenreConfig(**settings)
calibration = {name: {"temperature": 1.3, "global_threshold": 0.4,
                      "logit_offsets": {g: float(o) for g, o in zip(genres, rng.normal(0, 0.3, len(genres)))},
                      "thresholds": {g: float(t) for g, t in zip(genres, rng.uniform(0.2, 0.6, len(genres)))}}
               for name in ("poster", "overview", "fusion")}
classifier = GenreClassifier(config, vocabulary, calibration)
layers = {layer.name: layer for layer in classifier.whole.layers}
if "tfidf" in layers:
    layers["tfidf"].set_idf(rng.integers(0, len(vocabulary), (40, 12)))
if "neighbour_genres" in layers:
    layers["neighbour_genres"].set_index(rng.normal(size=(12, 768)).astype("float32"), (rng.random((12, len(genres))) < 0.4).astype("float32"))
classifier.save_pretrained(out)
answers = classifier.predict(poster=posters, overview=overviews)
print(json.dumps([{name: [answer[name]["probabilities"], answer[name]["genres"]] for name in answer} for answer in answers]))
"""


@pytest.fixture(scope="module")
def earlier_code(tmp_path_factory) -> Path:
    """The genre_hf package as it was before the layers, from git history."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_LAYERS, "genre_hf"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.fail(f"the commit {BEFORE_LAYERS[:12]} must be in this clone's history (git clone, not a shallow copy): {error}")
    folder = tmp_path_factory.mktemp("earlier")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.mark.parametrize("family", ["scratch", "pretrained"])
def test_a_folder_saved_before_the_layers_loads_and_predicts_the_same(family, earlier_code, data_dir, tmp_path, monkeypatch):
    from genre_hf import GenreClassifier

    posters = [str(path) for path in sorted((data_dir / "Images").iterdir())[:3]]
    mirror = minilm_mirror(tmp_path / "mirror")
    env = {**os.environ, "PYTHONPATH": str(earlier_code), "GENRE_HF_PRESET_MIRROR": str(mirror), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SAVE_SCRIPT, family, str(tmp_path / "model"), json.dumps(posters), json.dumps(OVERVIEWS)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    then = json.loads(result.stdout.strip().splitlines()[-1])
    monkeypatch.setenv("GENRE_HF_PRESET_MIRROR", str(mirror))
    now = GenreClassifier.from_pretrained(tmp_path / "model").predict(poster=posters, overview=OVERVIEWS)
    for before, after in zip(then, now):
        assert set(after) == set(before) == {"poster", "overview", "fusion"}
        for name, (probabilities, genres) in before.items():
            assert after[name]["genres"] == genres
            for genre, p in probabilities.items():  # its first call ran eagerly: the same to float32 rounding
                assert after[name]["probabilities"][genre] == pytest.approx(p, abs=1e-5)
