"""The LiteRT runtime: the tokenizers without TensorFlow give today's ids on every overview of the data,
a model folder answers on LiteRT without importing TensorFlow, and a converted file that was changed
is refused by name. (The pretrained family's converted encoder: tests/test_pretrained.py.)"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genre_hf import GenreClassifier
from genre_hf.hub.folder import NETWORK_FILE, FolderError
from tests.conftest import END_SCRIPT, minilm_folder

# Loads a model folder, predicts one movie, prints whether TensorFlow, Keras or KerasHub were imported.
NO_TENSORFLOW = """
import json, sys
from genre_hf import GenreClassifier
clf = GenreClassifier.from_pretrained(sys.argv[1])
answer = clf.predict(poster=sys.argv[2], overview=sys.argv[3])
print(json.dumps({"imported": [m for m in ("tensorflow", "keras", "keras_hub") if m in sys.modules],
                  "fusion": answer["fusion"]["probabilities"]}))
""" + END_SCRIPT


@pytest.fixture(scope="module")
def overviews(data_dir) -> list[str]:
    """Every overview of the data (5,714 on the shared copy)."""
    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        return [row["Overview"] for row in csv.DictReader(handle)]


def test_wordpiece_gives_kerashubs_ids_on_every_overview(overviews):
    """BERT uncased WordPiece in plain Python against KerasHub's BertTokenizer (TensorFlow Text's
    FastWordpiece), the ids the encoder was always fed, plus accents, CJK and a word past 100 bytes."""
    import keras_hub

    from genre_hf.modeling.encoders.keras_hub_text import wordpiece_vocabulary

    texts = [*overviews, "Amélie's café — naïve 東京 story…", "x" * 120 + " end", "ﬁne\u200bprint ＡＢＣ"]
    ours = wordpiece_vocabulary((minilm_folder() / "vocab.txt").read_bytes())(texts)
    reference = keras_hub.models.Tokenizer.from_preset(str(minilm_folder()), strip_accents=True, _allow_python_workflow=False)
    theirs = [np.asarray(ids).tolist() for ids in reference(texts)]
    differing = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert len(texts) > 1000 and differing == []


def test_the_vocabulary_tokenizer_gives_textvectorizations_ids_on_every_overview(overviews):
    """The LSTM's token ids in plain Python against Keras TextVectorization's (lowercase ASCII, strip its
    punctuation, split on whitespace, look up, cut or pad), on a vocabulary adapted on half the overviews."""
    import tensorflow as tf

    from genre_hf.modeling.tokenizer import Tokenizer, TokenSettings, _vectorizer

    settings = TokenSettings(max_tokens=5000, sequence_length=40)
    tokenizer = Tokenizer.adapt(settings, overviews[::2])
    texts = [*overviews, "ÉCOLE de l'Été: DON'T stop!", "tabs\tand\u00a0no-break spaces"]
    reference = _vectorizer(settings, tokenizer.vocabulary)(tf.constant(texts)).numpy()
    ours = tokenizer(texts)
    assert (ours == 1).sum() > 1000 and (ours[:, -1] > 0).sum() > 10  # unknown words and overviews cut short among them
    np.testing.assert_array_equal(ours, reference)


def test_a_folder_answers_on_litert_without_importing_tensorflow(tiny_model_dir, sample_movie):
    """A fresh process loads the from-scratch folder and predicts: no TensorFlow, Keras or KerasHub
    import, and the answer is the Keras models' to 1e-6."""
    poster, overview, _ = sample_movie
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(tiny_model_dir), str(poster), overview],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == []
    clf = GenreClassifier.from_pretrained(tiny_model_dir)
    inputs = {**clf.featurizer.poster_inputs(clf._poster_arrays([poster], True)), **clf.featurizer.overview_inputs([overview])}
    keras_answer = clf.calibrated("fusion", clf.network.raw_outputs(inputs)["fusion"])[0]
    assert [result["fusion"][genre] for genre in clf.genres] == pytest.approx(keras_answer.tolist(), abs=1e-6)


def test_a_changed_or_missing_model_tflite_is_refused_by_name(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    content = bytearray((folder / NETWORK_FILE).read_bytes())
    content[len(content) // 2] ^= 1
    (folder / NETWORK_FILE).write_bytes(bytes(content))
    with pytest.raises(FolderError, match=r"^model.tflite is not the file model.weights.h5 was saved with \(its sha256 differs\)"):
        GenreClassifier.from_pretrained(folder)
    (folder / NETWORK_FILE).unlink()
    with pytest.raises(FolderError, match=r"not a complete genre_hf model folder: missing model.tflite"):
        GenreClassifier.from_pretrained(folder)
