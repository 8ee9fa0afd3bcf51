"""The bad-input corpus, generated at test time: every case gets a ValueError that names the problem
(or a sensible answer), never a traceback from deep inside a library and never a silently wrong model."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genre_hf import GenreClassifier
from genre_hf.hub.folder import FolderError
from tests.conftest import free_port
from tests.test_posters import png, structure_bomb

# ---- what predict is given ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return GenreClassifier.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def posters(data_dir):
    return sorted((data_dir / "Images").iterdir())[:3]


def mixed_cases(posters):
    poster = posters[0]
    array = np.asarray(Image.open(poster).convert("RGB"))
    return [
        # (poster, overview, words the error must contain)
        (list(posters), "War", ["a list of 3 as poster", "the string 'War' as overview", "3 overviews"]),
        (array, ["War"] * array.shape[0], [f"a list of {array.shape[0]} as overview", f"an array of shape {array.shape}"]),
        (str(poster), ["a", "b", "c"], ["a list of 3 as overview", "the string", "3 posters"]),
        (Image.open(poster), ["a", "b"], ["a list of 2 as overview", "PIL image"]),
        (Path(poster), ["a", "b"], ["a list of 2 as overview", "the path"]),
        (np.zeros((2, 3, 4, 5, 3), np.uint8), None, ["shape (2, 3, 4, 5, 3)"]),
        ([str(poster), 12], None, ["poster 1 is a int"]),
        (None, ["fine", 3], ["overview 1 is a int"]),
        (None, {"text": "x"}, ["must be a string", "a dict"]),
        (b"", "A heist.", ["empty"]),
    ]


def test_mixed_single_and_batch_inputs_are_refused_with_what_was_given(classifier, posters):
    for poster, overview, words in mixed_cases(posters):
        with pytest.raises(ValueError) as error:
            classifier.predict(poster=poster, overview=overview)
        message = str(error.value)
        assert all(word in message for word in words), (words, message)
        assert "object at 0x" not in message


def test_a_batch_decoded_beside_the_overview_encoder_answers_as_its_movies_and_names_a_bad_poster(classifier, data_dir, tmp_path):
    """A batch of THREADED_POSTERS movies or more decodes its posters in a thread beside the overview
    encoder: each movie gets the answer it gets alone, and an unreadable poster is still named by its place."""
    from genre_hf.inference.classifier import THREADED_POSTERS

    posters = sorted((data_dir / "Images").iterdir())[:THREADED_POSTERS]
    overviews = [f"A heist in city {index} goes wrong." for index in range(THREADED_POSTERS)]
    batch = classifier.predict(poster=posters, overview=overviews)
    for index in (0, THREADED_POSTERS - 1):
        alone = classifier.predict(poster=posters[index], overview=overviews[index])
        for name in ("poster", "overview", "fusion"):
            assert batch[index][name]["genres"] == alone[name]["genres"]
            assert batch[index][name]["probabilities"] == pytest.approx(alone[name]["probabilities"], abs=1e-6)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a picture")
    posters[17] = junk
    with pytest.raises(ValueError, match=r"^poster 17: the poster file .*junk\.jpg is not a readable image"):
        classifier.predict(poster=posters, overview=overviews)


def test_a_batch_array_of_posters_is_a_batch(classifier, posters):
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 64))) for p in posters])
    batch = classifier.predict(poster=arrays, overview=["A heist.", "A ghost.", "A wedding."])
    single = classifier.predict(poster=arrays[1], overview="A ghost.")
    assert len(batch) == 3 and batch[1]["fusion"]["probabilities"] == pytest.approx(single["fusion"]["probabilities"], abs=1e-5)


def test_an_overview_with_no_known_word_carries_a_note(classifier):
    for text in ("🎬🔥😱", "東京の若い侍が父の仇を討つ。", "?!... --- !!!"):
        result = classifier.predict(overview=text)
        assert all(0 < p < 1 for name in result for p in result[name]["probabilities"].values())  # numbers, not NaN
        assert "None of the overview's words are in the model's vocabulary" in result["overview"]["notes"][0]
        assert result["overview"]["notes"] == result["fusion"]["notes"][:1]
    assert classifier.predict(overview="A detective hunts a killer.")["overview"]["notes"] == []


def poster_corpus(folder: Path, sample_poster: Path) -> dict[str, tuple[Path, str | None]]:
    """name -> (file, words its ValueError must contain, or None where the poster must be predicted)."""
    files = {
        "16-bit 10,900 px PNG": (png(folder / "deep.png", 10_900, 10_900, bytes(2 * 10_900), 16, 0), "decoding it would take 227 MB"),
        "RGBA 10,000 px PNG": (png(folder / "rgba.png", 10_000, 10_000, bytes(4 * 10_000), 8, 6), "decoding it would take 381 MB"),
        "PNG of 200,000 chunks": (folder / "chunks.png", "more than 20,000 chunks or blocks"),
        "text file named .jpg": (folder / "text.jpg", "is not a readable image"),
        "empty file": (folder / "empty.png", "is empty"),
        "truncated JPEG": (folder / "half.jpg", "is truncated"),
        "float TIFF": (folder / "float.tif", "32-bit float TIFF: decoding it would take"),
        "animated GIF": (folder / "animated.gif", None),
        "10,000 px JPEG": (folder / "huge.jpg", None),
    }
    (folder / "chunks.png").write_bytes(structure_bomb("PNG", 200_000))
    (folder / "text.jpg").write_text("not a poster\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "half.jpg").write_bytes(sample_poster.read_bytes()[: sample_poster.stat().st_size // 2])
    Image.new("F", (3_000, 3_000), 0.5).save(folder / "float.tif", compression="tiff_adobe_deflate")
    Image.new("RGB", (40, 30), "red").save(folder / "animated.gif", save_all=True, append_images=[Image.new("RGB", (40, 30), "blue")])
    Image.new("RGB", (10_000, 10_000), (150, 20, 30)).save(folder / "huge.jpg", quality=60)
    return files


def test_the_poster_corpus_gets_the_same_answer_from_predict_and_from_the_app(classifier, tiny_model_dir, sample_movie, tmp_path):
    from gradio_client import Client, handle_file

    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    corpus = poster_corpus(tmp_path, sample_movie[0])
    demo = build_demo(classifier)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        for name, (path, words) in corpus.items():  # (what each costs to decode is bounded in tests/test_posters.py)
            answer = client.predict(handle_file(str(path)), "A heist goes wrong.", api_name="/predict")
            assert "probabilities" in answer["overview"] and "probabilities" in answer["fusion"], name  # the overview still answers
            if words is None:
                assert answer["errors"] == [] and "probabilities" in answer["poster"], name
                assert set(classifier.predict(poster=path)) == {"poster", "fusion"}
                continue
            with pytest.raises(ValueError, match=words) as error:
                classifier.predict(poster=path, overview="A heist goes wrong.")
            assert answer["errors"] == [f"Poster ignored: {str(error.value).replace(str(path), path.name)}."], name
            assert answer["poster"]["message"] == "Needs a readable poster"
    finally:
        demo.close()


# ---- bad model folders ---------------------------------------------------------------------------


def broken_copy(source: Path, target: Path, edit) -> Path:
    shutil.copytree(source, target)
    edit(target)
    return target


def edit_json(name, change):
    def edit(folder):
        values = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps(change(values)))
    return edit


def other_weights(path: Path, stamped: bool = True) -> None:
    """Another model's weights in place of the folder's, with the folder's stamps copied over (a repo
    that forged them) or without any."""
    import h5py
    import keras

    with h5py.File(path, "r") as handle:
        stamps = dict(handle.attrs)
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(path)
    if stamped:
        with h5py.File(path, "a") as handle:
            handle.attrs.update(stamps)


def test_weights_of_another_model_are_refused_when_the_keras_models_are_needed(tiny_model_dir, tmp_path, sample_movie):
    """The models answer on model.tflite (pinned by the stamp); a forged weights file with copied stamps is
    read when the Keras models are first needed (Grad-CAM, saving), and refused then, naming the file."""
    folder = broken_copy(tiny_model_dir, tmp_path / "model", lambda f: other_weights(f / "model.weights.h5"))
    classifier = GenreClassifier.from_pretrained(folder)
    assert classifier.predict(poster=sample_movie[0], overview=sample_movie[1])["fusion"]["genres"]
    with pytest.raises(FolderError, match=r"model.weights.h5 does not fit the architecture in config.json"):
        classifier.explain(poster=sample_movie[0], overview=sample_movie[1])


def without_genre(values):
    values["models"]["fusion"]["thresholds"].pop(next(iter(values["models"]["fusion"]["thresholds"])))
    return values


def reordered(values):
    values["genres"] = values["genres"][::-1]
    return values


FOLDER_CASES = {
    "thresholds missing a genre": (edit_json("thresholds.json", without_genre), r"thresholds.json: fusion thresholds must have one value per genre"),
    "thresholds missing a model": (edit_json("thresholds.json", lambda v: {**v, "models": {k: m for k, m in v["models"].items() if k != "poster"}}),
                                   r"thresholds.json: models must have exactly \['poster', 'overview', 'fusion'\]"),
    "thresholds of another format": (edit_json("thresholds.json", lambda v: {**v, "format_version": 7}), r"thresholds.json: format_version must be 4"),
    "genres reordered": (edit_json("config.json", reordered), r"thresholds.json: its genres .* are not those of config.json"),
    "image size it was not trained at": (edit_json("config.json", lambda v: {**v, "poster": {**v["poster"], "image_size": 32}}),
                                         r"config.json differs from the config model.weights.h5 was trained with: poster.image_size is 32 \(trained with 64\)"),
    "a string where a number goes": (edit_json("config.json", lambda v: {**v, "poster": {**v["poster"], "image_size": "64"}}),
                                     r'config.json: poster.image_size must be a whole number, not a string of 2 characters'),  # never the text itself
    "an encoder that does not exist": (edit_json("config.json", lambda v: {**v, "poster": {**v["poster"], "kind": "transformer"}}),
                                       r"config.json: poster.kind 'transformer' is not an encoder: use one of cnn, efficientnet_lite, keras_hub"),
    "a list instead of an object": (edit_json("config.json", lambda v: [v]), r"config.json must hold a JSON object, not a list"),
    "invalid JSON": (lambda f: (f / "config.json").write_text("{'format_version': 4,"), r"config.json is not valid JSON"),
    "a string format version": (edit_json("config.json", lambda v: {**v, "format_version": "4"}),
                                r"config.json: format_version must be a whole number .* not a string of 1 characters"),
    "no format version": (edit_json("config.json", lambda v: {k: x for k, x in v.items() if k != "format_version"}),
                          r"config.json: format_version must be a whole number .* not null"),
    "an earlier format": (edit_json("config.json", lambda v: {**v, "format_version": 3}),
                          r"config.json: format version 3 was written by an earlier, unpublished genre_hf: .* reads format version 4; retrain"),
    "a format version from the future": (edit_json("config.json", lambda v: {**v, "format_version": 5}), r"format version 5 is newer: .*upgrade genre_hf"),
    "an unknown setting": (edit_json("config.json", lambda v: {**v, "dropout_rate": 0.1}), r"config.json: unknown setting dropout_rate$"),
    "an unknown setting in a section": (edit_json("config.json", lambda v: {**v, "fusion": {**v["fusion"], "heads": 2}}),
                                        r"config.json: unknown setting fusion.heads$"),
    "non-UTF-8 vocabulary": (lambda f: (f / "vocabulary.txt").write_bytes(b"\n[UNK]\ncaf\xe9\n"), r"vocabulary.txt is not UTF-8 text"),
    "empty vocabulary": (lambda f: (f / "vocabulary.txt").write_text(""), r"vocabulary.txt must start with an empty line"),
    "truncated weights": (lambda f: (f / "model.weights.h5").write_bytes((f / "model.weights.h5").read_bytes()[:5000]),
                          r"model.weights.h5 is not a readable weights file"),
    "weights genre_hf did not save": (lambda f: other_weights(f / "model.weights.h5", stamped=False),
                                      r"model.weights.h5 has no stamp or a damaged one: it was not saved by genre_hf"),
    "a missing file": (lambda f: (f / "vocabulary.txt").unlink(), r"not a complete genre_hf model folder: missing vocabulary.txt"),
}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
def test_a_bad_model_folder_is_refused_at_load_naming_the_file(tiny_model_dir, tmp_path, case):
    edit, message = FOLDER_CASES[case]
    folder = broken_copy(tiny_model_dir, tmp_path / "model", edit)
    with pytest.raises(FolderError, match=message):
        GenreClassifier.from_pretrained(folder)


def test_a_folder_that_does_not_exist_is_said_so_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # were it sent to the Hub, it would hang on retries
    for source in ("artifact/model/", "./artifact/model", str(tmp_path / "nowhere"), "~/models/genres", "model.weights.h5"):
        started = time.perf_counter()
        with pytest.raises(FolderError, match="no model folder at"):
            GenreClassifier.from_pretrained(source)
        assert time.perf_counter() - started < 1.0


def test_a_repo_id_that_is_neither_a_folder_nor_reachable_says_both_and_what_fixes_it(tmp_path, monkeypatch):
    """Offline, the setting that keeps it offline; without a Hub that answers, the Hub's address; either way
    the option that names a local folder instead."""
    import huggingface_hub.constants

    from tests.hub_server import HubServer, hub_env

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FolderError) as offline:
        GenreClassifier.from_pretrained("artifact/model")
    assert str(offline.value) == (
        "no model folder at artifact/model, and the Hub repo artifact/model is not in the Hub cache, and HF_HUB_OFFLINE=1 "
        "keeps it from being downloaded: unset HF_HUB_OFFLINE to download it once, or name a local model folder "
        "(--model FOLDER or $GENRE_HF_MODEL)")
    server = HubServer(tmp_path / "hub").start()
    hub_env(monkeypatch, server, tmp_path / "home")  # HF_HUB_OFFLINE unset, the Hub on 127.0.0.1...
    server.stop()  # ...and gone: each request is refused
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)  # its retries, without 23 s of waits
    with pytest.raises(FolderError) as unreachable:
        GenreClassifier.from_pretrained("artifact/model")
    assert str(unreachable.value) == (
        f"no model folder at artifact/model, and the Hub repo artifact/model is neither in the Hub cache nor reachable at "
        f"{server.url}: connect to the Hub, or name a local model folder (--model FOLDER or $GENRE_HF_MODEL)")
