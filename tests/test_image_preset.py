"""A KerasHub image backbone preset as the poster encoder. No real image weights are on this machine,
so the preset is a tiny randomly initialised ResNet saved as a KerasHub preset, served under a Hub
id by the 127.0.0.1 Hub and loaded through `hf://`, as users load one from the real Hub."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from huggingface_hub import HfApi

from tests.conftest import CONVERTER_SIZE, HUB_TOKEN, serving_repo, tiny_config
from tests.hub_server import hub_env

PRESET_REPO = "genre-hf-test/tiny-resnet"
OWNER_TOKEN = "genre-hf-test-token"  # the preset's owner on the test Hub


@pytest.fixture(scope="module")
def image_hub(image_presets, tmp_path_factory):
    """The Hub look-alike serving the tiny ResNet preset under its Hub id, this process pointed at it."""
    with serving_repo(tmp_path_factory.mktemp("image_hub"), PRESET_REPO, image_presets["resnet"], OWNER_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def preset_commit(image_hub):
    """The preset's commit when the model is trained (a later test uploads other weights)."""
    return HfApi(endpoint=image_hub.url).model_info(PRESET_REPO).sha


@pytest.fixture(scope="module")
def trained(image_hub, preset_commit, subset_dir, tmp_path_factory):
    """(model folder, the classifier as trained): the scratch family with the image preset for posters, 1 epoch."""
    from genre_hf.pipeline import train_and_save

    out = tmp_path_factory.mktemp("image_preset") / "model"
    config = tiny_config(epochs=1, poster={"kind": "keras_hub", "preset": f"hf://{PRESET_REPO}", "head_units": 32})
    classifier = train_and_save(str(subset_dir), out, config=config, log=lambda message: None)
    return out, classifier


def test_a_keras_hub_poster_encoder_needs_a_preset():
    from genre_hf.modeling.encoders import encoder_class

    cls = encoder_class("poster", "keras_hub")
    with pytest.raises(ValueError, match="poster.kind 'keras_hub' needs poster.preset"):
        cls.pinned(cls.Settings())
    with pytest.raises(ValueError, match="^poster: preset must name the image backbone: hf://owner/name or a local KerasHub preset folder$"):
        tiny_config(poster={"kind": "keras_hub"})


def test_the_feature_cache_is_keyed_by_the_image_preset_and_its_pins():
    import dataclasses

    from genre_hf.config import GenreConfig
    from genre_hf.features.cache import feature_key
    from genre_hf.features.featurizer import Featurizer
    from genre_hf.modeling.tokenizer import Tokenizer

    def featurizer(config):
        tokenizer = Tokenizer(config.tokens, ["", "[UNK]"])
        return Featurizer(config, config.encoders(tokenizer), tokenizer)

    config = tiny_config(poster={"kind": "keras_hub", "preset": "hf://owner/net", "sha256": "1" * 64})
    key = feature_key(featurizer(config), "source", "train")
    assert key["poster_encoder"] == "keras_hub" and key["poster_encoder_pins"] == ["hf://owner/net", "", "1" * 64, "litert_int8", ""]
    for change in ({"sha256": "2" * 64}, {"runtime": "tensorflow"}, {"converted_sha256": "3" * 64}):
        changed = dataclasses.replace(config, poster=dataclasses.replace(config.poster, **change))
        assert feature_key(featurizer(changed), "source", "train") != key
    assert "poster_encoder_pins" not in feature_key(featurizer(GenreConfig()), "source", "train")


def test_the_folder_pins_the_preset_and_its_image_size_and_keeps_its_conversion(trained, preset_commit, image_presets):
    folder, classifier = trained
    config = json.loads((folder / "config.json").read_text())
    commit = preset_commit
    weights = hashlib.sha256((image_presets["resnet"] / "model.weights.h5").read_bytes()).hexdigest()
    poster = config["poster"]
    assert poster["kind"] == "keras_hub" and poster["preset"] == f"hf://{PRESET_REPO}"
    assert poster["revision"] == commit and poster["sha256"] == weights
    assert poster["image_size"] == CONVERTER_SIZE  # the preset's image converter's, not the CNN's default
    assert poster["embedding_dim"] == 32  # the last stack's filters
    converted = (folder / "poster_encoder.tflite").read_bytes()  # the pass, image converter included, on LiteRT
    assert poster["runtime"] == "litert_int8" and poster["converted_sha256"] == hashlib.sha256(converted).hexdigest()
    assert not (folder / "poster_encoder_vocabulary.txt").exists()
    assert classifier.models["poster"].input_shape == (None, 32) and classifier.whole.get_layer("poster_embedding").units == 32
    assert not any("res_net" in layer.name for layer in classifier.whole.layers)  # the backbone is not in the models
    card = (folder / "README.md").read_text()
    assert "Poster tiny-resnet" in card and f"https://huggingface.co/{PRESET_REPO}" in card
    assert "licence: see the preset's own card" in card
    assert f"revision `{commit}`" in card


def test_the_preset_loads_through_hf_and_is_pooled_as_its_kind_pools(image_hub, image_presets, sample_movie):
    """Through hf:// the preset is the Hub's snapshot at a commit; a conv backbone's feature map is
    averaged over its positions, a ViT's class token is taken."""
    import keras_hub

    from genre_hf.data.posters import poster_to_array
    from genre_hf.modeling import presets as pretrained
    from genre_hf.modeling.encoders import keras_hub_image

    folder, revision, sha256 = pretrained.resolve(f"hf://{PRESET_REPO}", role="image encoder")
    assert revision == HfApi(endpoint=image_hub.url).model_info(PRESET_REPO).sha and folder.name == revision
    assert sha256 == pretrained.weights_hash(image_presets["resnet"])
    posters = np.stack([poster_to_array(sample_movie[0], CONVERTER_SIZE), np.zeros((CONVERTER_SIZE,) * 2 + (3,), np.uint8)])
    through_hub = keras_hub_image.embedder_for(folder)(posters)
    for name, pool in (("resnet", lambda out: out.mean(axis=(1, 2))), ("vit", lambda out: out[:, 0])):
        local = image_presets[name]
        converter = keras_hub.layers.ImageConverter.from_preset(str(local))
        direct = pool(np.asarray(keras_hub.models.Backbone.from_preset(str(local))(converter(posters.astype("float32")))))
        embedder = keras_hub_image.embedder_for(local)
        assert embedder.image_size == CONVERTER_SIZE
        np.testing.assert_allclose(embedder(posters), direct, atol=1e-5)
        if name == "resnet":
            np.testing.assert_allclose(through_hub, direct, atol=1e-5)


def test_loads_from_a_folder_and_from_the_hub_and_predicts_as_before(trained, image_hub, sample_movie):
    from genre_hf import GenreClassifier

    folder, classifier = trained
    poster, overview, _ = sample_movie
    expected = classifier.predict(poster=poster, overview=overview)
    HfApi(endpoint=image_hub.url, token=HUB_TOKEN).create_repo("user/image-preset")
    classifier.push_to_hub("user/image-preset", token=HUB_TOKEN)
    for source in (str(folder), "user/image-preset"):
        loaded = GenreClassifier.from_pretrained(source, token=HUB_TOKEN).predict(poster=poster, overview=overview)
        for name in expected:
            assert loaded[name]["probabilities"] == pytest.approx(expected[name]["probabilities"], abs=1e-6), (source, name)


def test_explaining_maps_the_backbone_feature_map_and_a_vit_has_none(trained, image_presets, sample_movie):
    """A conv backbone's last feature map, computed before the models, is where Grad-CAM looks: the
    map equals the one from the gradient of the poster model's logit taken by hand through the
    pooling. A ViT's tokens are no map over the poster: its encoder has none to give."""
    import tensorflow as tf

    from genre_hf.data.posters import poster_to_array
    from genre_hf.modeling.encoders import keras_hub_image

    _, classifier = trained
    poster, overview, _ = sample_movie
    explanation = classifier.explain(poster, overview)
    assert set(explanation["heat_maps"]) == {"poster", "fusion"}
    assert not any("No poster heat map" in note for note in explanation["notes"])
    assert set(explanation["word_scores"]) == {"overview", "fusion"} and explanation["modalities"]
    encoder = classifier.encoders["poster"]
    image = poster_to_array(poster, CONVERTER_SIZE)[None]
    maps = tf.constant(encoder.feature_maps(image))
    index = classifier.genres.index(explanation["genre"])
    head = classifier.models["poster"].get_layer("poster_genres")
    with tf.GradientTape() as tape:
        tape.watch(maps)
        embedding = classifier.models["poster"].get_layer("poster_embedding")(encoder.pool_maps(maps))
        logit = (tf.matmul(embedding, head.kernel) + head.bias)[:, index]
    expected = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2), keepdims=True) * maps, -1))[0].numpy()
    from genre_hf.inference.explain import explainer

    inputs = classifier.featurizer.poster_inputs(image)
    cam = explainer(classifier).grad_cam("poster", inputs, np.ones((1, 2), np.float32), index, maps.numpy())
    # Scaled to 1 at its peak, as grad_cam does; a tiny random backbone may have no part of the poster speak
    # for the genre, and then both are zero everywhere.
    peak = expected.max()
    np.testing.assert_allclose(cam, expected / peak if peak > 0 else expected, atol=1e-5)
    vit = keras_hub_image.embedder_for(image_presets["vit"])
    assert not vit.has_maps and vit.feature_maps(image) is None


def test_an_image_preset_with_other_weights_is_refused(trained, image_hub, image_presets, sample_movie, tmp_path):
    """Other weights upstream are refused wherever the preset is read (with the pins training recorded);
    the folder keeps the converted encoder it was trained with, and answers as trained. It changes the
    preset on the test Hub, and puts the original weights back after (tests run in any order)."""
    from genre_hf import GenreClassifier
    from genre_hf.modeling import presets as pretrained

    folder, _ = trained
    with pytest.raises(ValueError, match=f"hf://{PRESET_REPO} has no revision f{{40}}, the one this model was trained with"):
        pretrained.resolve(f"hf://{PRESET_REPO}", "f" * 40, role="image encoder")
    # New weights upstream (the test Hub keeps one version, so the pinned commit now serves them),
    # read by a process with an empty Hub cache.
    original = (image_presets["resnet"] / "model.weights.h5").read_bytes()
    changed = bytearray(original)
    changed[-1000] ^= 0xFF
    owner = HfApi(endpoint=image_hub.url, token=OWNER_TOKEN)
    owner.upload_file(path_or_fileobj=bytes(changed), path_in_repo="model.weights.h5", repo_id=PRESET_REPO)
    poster = json.loads((folder / "config.json").read_text())["poster"]
    expected = trained[1].predict(poster=sample_movie[0], overview="A heist.")
    try:
        with pytest.MonkeyPatch.context() as patch:
            hub_env(patch, image_hub, tmp_path / "fresh_home")
            refused = f"the image encoder hf://{PRESET_REPO} has weights with sha256 .* trained with {poster['sha256'][:12]}"
            with pytest.raises(ValueError, match=refused):
                pretrained.resolve(poster["preset"], poster["revision"], poster["sha256"], role="image encoder")
            answer = GenreClassifier.from_pretrained(folder).predict(poster=sample_movie[0], overview="A heist.")
            assert answer["poster"]["probabilities"] == pytest.approx(expected["poster"]["probabilities"], abs=1e-6)
    finally:
        owner.upload_file(path_or_fileobj=original, path_in_repo="model.weights.h5", repo_id=PRESET_REPO)
