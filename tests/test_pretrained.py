"""The pretrained family: a KerasHub text encoder (the Hub's all-MiniLM-L6-v2), served under its Hub id
by the 127.0.0.1 Hub and loaded through `hf://`, as users load it from the real Hub."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi

from tests.conftest import END_SCRIPT, HUB_TOKEN, minilm_folder, minilm_mirror, serving_repo, tiny_config
from tests.hub_server import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
MINILM = minilm_folder()
ENCODER_REPO = "sentence-transformers/all-MiniLM-L6-v2"
OWNER_TOKEN = "sentence-transformers-token"  # the encoder's owner on the test Hub
# Loads each model (argv[1:-2]: folders or Hub ids) in turn and predicts argv[-2] (poster), argv[-1]
# (overview) with it: a line of JSON each, the probabilities (and which of TensorFlow, Keras and KerasHub
# the process has imported) or the error.
LOAD_SCRIPT = """
import json, sys
from genre_hf import GenreClassifier
for source in sys.argv[1:-2]:
    try:
        clf = GenreClassifier.from_pretrained(source)
        result = clf.predict(poster=sys.argv[-2], overview=sys.argv[-1])
        imported = [m for m in ("tensorflow", "keras", "keras_hub") if m in sys.modules]
        print(json.dumps({"imported": imported, **{name: result[name]["probabilities"] for name in result}}))
    except ValueError as error:
        print(json.dumps({"error": str(error)}))
""" + END_SCRIPT


@pytest.fixture(scope="module")
def encoder_hub(tmp_path_factory):
    """The Hub look-alike serving the encoder's files under its Hub id, this process pointed at it."""
    with serving_repo(tmp_path_factory.mktemp("encoder_hub"), ENCODER_REPO, MINILM, OWNER_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def encoder_commit(encoder_hub):
    """The encoder's commit when the model is trained (a later test uploads other weights)."""
    return HfApi(endpoint=encoder_hub.url).model_info(ENCODER_REPO).sha


@pytest.fixture(scope="module")
def pretrained_dir(encoder_hub, encoder_commit, subset_dir, tmp_path_factory):
    from genre_hf.pipeline import train_and_save

    out = tmp_path_factory.mktemp("pretrained") / "model"
    config = tiny_config("pretrained", overview={"layers": [5, 6], "head_units": 64})
    train_and_save(str(subset_dir), out, config=config, log=lambda message: None)
    return out


@pytest.fixture(scope="module")
def classifier(pretrained_dir):
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(pretrained_dir)


def test_the_folder_names_its_encoder_and_keeps_its_int8_conversion(pretrained_dir, encoder_commit):
    import hashlib

    config = json.loads((pretrained_dir / "config.json").read_text())
    commit = encoder_commit
    overview = config["overview"]
    assert overview["kind"] == "keras_hub" and overview["preset"] == f"hf://{ENCODER_REPO}"
    assert overview["revision"] == commit and overview["embedding_dim"] == 2 * 384
    assert overview["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert overview["runtime"] == "litert_int8"
    converted = (pretrained_dir / "overview_encoder.tflite").read_bytes()
    assert overview["converted_sha256"] == hashlib.sha256(converted).hexdigest()
    assert 15_000_000 < len(converted) < 30_000_000  # int8 weights: a quarter of the 90 MB float32 safetensors
    assert (pretrained_dir / "overview_encoder_vocabulary.txt").read_bytes() == (MINILM / "vocab.txt").read_bytes()
    size = sum(path.stat().st_size for path in pretrained_dir.glob("*.weights.h5"))
    assert size < 5_000_000  # the Keras heads alone
    card = (pretrained_dir / "README.md").read_text()
    assert "Overview all-MiniLM-L6-v2" in card and f"https://huggingface.co/{ENCODER_REPO}" in card and "Apache-2.0" in card
    report = json.loads((pretrained_dir / "benchmark.json").read_text())
    assert "embedding_logreg" in report["test"]["baselines"]


def test_the_encoder_through_hf_is_the_shared_folder_and_sentence_transformers(classifier):
    from genre_hf.modeling import presets as pretrained
    from genre_hf.modeling.encoders import keras_hub_text

    texts = ["A retired hitman seeks revenge.", "An old assassin wants vengeance.", "Two friends fall in love in Paris, café au lait."]
    through_hub = classifier.encoders["overview"].features(texts)  # LiteRT, int8 weights
    folder, revision, _ = pretrained.resolve(str(MINILM))
    local = keras_hub_text.embedder_for(folder, 128, (5, 6))(texts)  # TensorFlow, float32
    np.testing.assert_allclose(through_hub, local, atol=0.03)  # int8 weights: within 0.026 measured on the test split
    cosines = np.sum(through_hub.reshape(3, 2, 384) * local.reshape(3, 2, 384), axis=-1)  # each layer's mean is unit length
    assert cosines.min() > 0.998
    assert revision == ""
    np.testing.assert_allclose(np.linalg.norm(local.reshape(3, 2, 384), axis=-1), 1.0, atol=1e-5)  # each layer's mean, unit length
    last = classifier.encoders["overview"].sentence_embeddings(texts)
    unit = last / np.linalg.norm(last, axis=1, keepdims=True)
    assert unit.shape == (3, 384) and float(unit[0] @ unit[1]) > float(unit[0] @ unit[2]) + 0.3  # it knows what words mean


def test_predict_tokenizes_each_overview_once_for_its_embedding_and_its_note(classifier, monkeypatch):
    """The embedding and the note on a cut overview come from one WordPiece pass per distinct overview
    (a second pass cost about a tenth of predict)."""
    embedder = classifier.encoders["overview"]._embedder()
    tokenized, tokenizer = [], embedder.wordpiece
    monkeypatch.setattr(embedder, "wordpiece", lambda texts: tokenized.extend(texts) or tokenizer(texts))
    short, long = "A heist in Lyon goes wrong, twice.", "A heist in Lyon goes wrong, again and again. " * 20  # 181 pieces
    result = classifier.predict(overview=[short, long, short])
    assert sorted(tokenized) == sorted([short, long])
    assert [row["overview"]["notes"] for row in result] == [[], [
        "The overview is longer than the 128 word pieces the overview models read; the rest is ignored."], []]
    assert result[0] == result[2]
    classifier.predict(overview=[long])
    assert sorted(tokenized) == sorted([short, long])  # remembered


def test_overviews_are_embedded_in_length_batches_within_the_word_piece_budget(classifier, data_dir):
    """Each overview once, in order of length, at most BATCH a batch and BATCH_TOKENS padded word pieces
    (a longer one alone); on real overviews that pads less than batches of 64, and an overview's
    embedding does not depend on the batch it was in (to float rounding)."""
    from genre_hf.modeling.encoders.keras_hub_text import BATCH, BATCH_TOKENS, length_batches

    embedder = classifier.encoders["overview"]._embedder()
    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        overviews = [record["Overview"] for _, record in zip(range(256), csv.DictReader(handle))]
    lengths = [len(ids) for ids in embedder.token_ids(overviews)] + [128, 128, 3, 2000]
    batches = length_batches(lengths)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths))) and [lengths[i] for i in rows] == sorted(lengths)
    for batch in batches:
        assert len(batch) <= BATCH and (len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= BATCH_TOKENS)
    order = np.argsort(lengths[:256], kind="stable")
    by_64 = sum(len(chunk) * max(lengths[i] for i in chunk) for chunk in np.split(order, range(64, 256, 64)))
    ours = sum(len(batch) * max(lengths[i] for i in batch) for batch in length_batches(lengths[:256]))
    assert ours < by_64
    embedder._memory.clear()
    together = embedder(overviews[:24])
    embedder._memory.clear()
    alone = np.concatenate([embedder([text]) for text in overviews[:24]])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_wordpiece_runs_on_tensorflow_text_and_gives_kerashubs_python_ids(classifier, data_dir):
    """TensorFlow Text's FastWordpiece (6x faster) must give the ids KerasHub's Python WordPiece gives,
    on real overviews and on accents, case and punctuation (the TensorFlow runtime's tokenizer; the LiteRT
    runtime's is tests/test_litert.py's)."""
    import keras_hub

    from genre_hf.modeling import presets

    encoder = classifier.encoders["overview"]
    embedder = type(encoder)._tensorflow_embedder(encoder.settings)
    assert embedder.tokenizer._use_tf_workflow()  # the [pretrained] extra's tensorflow-text imports
    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        overviews = [record["Overview"] for _, record in zip(range(400), csv.DictReader(handle))]
    overviews += ["Café au lait, ÉLAN and naïveté: a señor's déjà vu!", "Ｆｕｌｌ-width, “quotes” — and 1,000,000 $"]
    python = keras_hub.models.Tokenizer.from_preset(str(presets.resolve(str(MINILM))[0]), strip_accents=True)
    assert not python._use_tf_workflow()
    cls, sep = embedder.special
    expected = [[cls, *np.asarray(ids).tolist()[:126], sep] for ids in python(overviews)]
    assert embedder.token_ids(overviews) == expected


def test_a_preset_mirror_stands_in_for_the_hub_and_keeps_the_weights_check(monkeypatch, tmp_path):
    """$GENRE_HF_PRESET_MIRROR: machines without the Hub use a local copy of the encoder's Hub files;
    the model still names the Hub id, and other weights are still refused."""
    from genre_hf.modeling import presets as pretrained

    mirror = minilm_mirror(tmp_path / "mirror")
    monkeypatch.setenv("GENRE_HF_PRESET_MIRROR", str(mirror))
    folder, revision, sha256 = pretrained.resolve(f"hf://{ENCODER_REPO}")
    assert folder == mirror / "all-MiniLM-L6-v2" and revision == "" and sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    with pytest.raises(ValueError, match="trained with 000000000000"):
        pretrained.resolve(f"hf://{ENCODER_REPO}", sha256="0" * 64)
    monkeypatch.setenv("GENRE_HF_PRESET_MIRROR", str(MINILM))  # no copy of this repo there: the Hub as usual
    assert pretrained._mirror(f"hf://{ENCODER_REPO}") is None


def test_loads_from_a_folder_and_from_the_hub_and_predicts_as_before(classifier, pretrained_dir, encoder_hub, sample_movie, tmp_path):
    poster, overview, _ = sample_movie
    expected = classifier.predict(poster=poster, overview=overview)
    HfApi(endpoint=encoder_hub.url, token=HUB_TOKEN).create_repo("user/pretrained")
    classifier.push_to_hub("user/pretrained", token=HUB_TOKEN)
    env = subprocess_env(encoder_hub, tmp_path / "fresh_home")
    env["HF_TOKEN"] = HUB_TOKEN
    sources = (str(pretrained_dir), "user/pretrained")  # in one fresh process, which builds the encoder once for both
    done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, *sources, str(poster), overview], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(sources), done.stdout[-3000:]
    for source, line in zip(sources, lines):
        loaded = json.loads(line)
        assert loaded["imported"] == []  # the encoder and the models on LiteRT
        for name in expected:
            assert loaded[name] == pytest.approx(expected[name]["probabilities"], abs=1e-5), (source, name)


def test_changed_encoder_weights_are_refused_and_the_folder_keeps_its_own(classifier, pretrained_dir, encoder_hub, sample_movie, tmp_path):
    """Weights other than those trained with are refused wherever the preset is read (training's pins, the
    TensorFlow runtime); a LiteRT folder keeps its converted encoder and answers as trained. A changed
    converted file is refused by name."""
    import shutil

    from genre_hf import GenreClassifier
    from genre_hf.hub.folder import FolderError
    from genre_hf.modeling import presets as pretrained

    with pytest.raises(ValueError, match=f"hf://{ENCODER_REPO} has no revision f{{40}}, the one this model was trained with"):
        pretrained.resolve(f"hf://{ENCODER_REPO}", "f" * 40)
    # New weights upstream. (The real Hub would still serve the pinned commit's old files; the test
    # Hub keeps one version, so the pinned commit now gives the new weights, which must be refused.)
    # The module's other tests share this Hub, in any order: the original weights go back afterwards.
    original = (MINILM / "model.safetensors").read_bytes()
    changed = bytearray(original)
    changed[-1000] ^= 0xFF
    owner = HfApi(endpoint=encoder_hub.url, token=OWNER_TOKEN)
    owner.upload_file(path_or_fileobj=bytes(changed), path_in_repo="model.safetensors", repo_id=ENCODER_REPO)
    config = json.loads((pretrained_dir / "config.json").read_text())["overview"]
    try:
        env = subprocess_env(encoder_hub, tmp_path / "fresh_home")
        done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(pretrained_dir), str(sample_movie[0]), "A heist."],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        resolve = "import sys; from genre_hf.modeling import presets; presets.resolve(*sys.argv[1:])"
        refused = subprocess.run([sys.executable, "-c", resolve, config["preset"], config["revision"], config["sha256"]],
                                 env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        owner.upload_file(path_or_fileobj=original, path_in_repo="model.safetensors", repo_id=ENCODER_REPO)
    assert refused.returncode == 1
    assert re.search(f"ValueError: the text encoder hf://{ENCODER_REPO} has weights with sha256 .* trained with 53aa51172d14", refused.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    expected = classifier.predict(poster=sample_movie[0], overview="A heist.")
    assert answer["fusion"] == pytest.approx(expected["fusion"]["probabilities"], abs=1e-5)
    folder = shutil.copytree(pretrained_dir, tmp_path / "changed")
    content = bytearray((folder / "overview_encoder.tflite").read_bytes())
    content[len(content) // 3] ^= 1
    (folder / "overview_encoder.tflite").write_bytes(bytes(content))
    with pytest.raises(FolderError, match=r"^overview_encoder.tflite is not the converted model it was saved as \(its sha256 differs\)"):
        GenreClassifier.from_pretrained(folder)


def test_importing_and_loading_the_scratch_family_never_imports_keras_hub(tiny_model_dir, sample_movie):
    code = ("import sys; from genre_hf import GenreClassifier; c = GenreClassifier.from_pretrained(sys.argv[1]); "
            "c.predict(poster=sys.argv[2], overview='A heist.'); print('keras_hub' in sys.modules, 'tensorflow_text' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_model_dir), str(sample_movie[0])], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_the_space_switches_families_in_a_browser_and_through_the_api(classifier, tiny_model_dir, encoder_hub, sample_movie, tmp_path):
    """Both families loaded once; a visitor's switch redraws the panels with the other family's answer,
    and the API's `family` gives exactly what that family's classifier says."""
    from gradio_client import Client, handle_file

    from genre_hf import GenreClassifier
    from genre_hf.app.labels import family_label
    from genre_hf.app.page import build_demo, family_choice
    from genre_hf.app.serve import launch
    from tests.conftest import free_port
    from tests.page_layout import look, screenshots_folder
    from tests.test_browser import CHROMIUM, enter_movie, explain, open_page, page_with_movie

    folder = screenshots_folder(tmp_path)
    scratch = GenreClassifier.from_pretrained(tiny_model_dir)
    families = {family_label(scratch): scratch, family_label(classifier): classifier}
    assert len(families) == 2
    poster, overview, _ = sample_movie
    demo = build_demo(families)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        for label, family in families.items():
            answer = client.predict(handle_file(str(poster)), overview, label, api_name="/predict")
            expected = family.predict(poster=poster, overview=overview)
            for name in ("poster", "overview", "fusion"):
                got = dict(answer[name]["probabilities"])
                for genre, probability in expected[name]["probabilities"].items():
                    assert got[genre] == pytest.approx(probability, abs=1e-4), (label, name, genre)
        if not Path(CHROMIUM).exists():
            pytest.skip(f"no browser at {CHROMIUM}: the API part passed")
        with page_with_movie(url, poster, overview, height=800, width=1280) as page:  # a laptop
            page.get_by_role("button", name="Predict genres").click()
            page.locator("#panel-overview").get_by_text("Overview LSTM").first.wait_for(timeout=30_000)
            page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=30_000)
            look(page, folder, "laptop-family-scratch")
            page.locator("#family").get_by_text(family_choice(family_label(classifier), {})).click()
            page.locator("#panel-overview").get_by_text("Overview all-MiniLM-L6-v2").first.wait_for(timeout=30_000)
            page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=30_000)
            switched = page.locator("#panel-overview").inner_text()
            look(page, folder, "laptop-family-pretrained")
            explain(page)
            look(page, folder, "laptop-family-pretrained-explain")
            page.get_by_role("tab", name="About & benchmark").click()
            page.locator("#about table").first.wait_for(timeout=10_000)
            look(page, folder, "laptop-family-about")
        assert "Overview LSTM" not in switched and "%" in switched
        # On a phone, in any order: switch before anything is entered (nothing to redraw, no error), then
        # predict and explain, switch back and predict again.
        with open_page(url, 844, 390) as page:
            page.locator("#family").get_by_text(family_choice(family_label(classifier), {})).click()
            page.locator("#panel-overview").get_by_text("Overview all-MiniLM-L6-v2").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1_000)
            assert "Error" not in page.locator("body").inner_text()
            enter_movie(page, poster, overview)
            page.get_by_role("button", name="Predict genres").click()
            page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=30_000)
            pretrained_panel = page.locator("#panel-overview").inner_text()
            explain(page)
            look(page, folder, "phone-family-pretrained-explain")
            page.locator("#family").get_by_text(family_choice(family_label(scratch), {})).click()
            page.locator("#panel-overview").get_by_text("Overview LSTM").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="Predict genres").click()
            page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            scratch_panel = page.locator("#panel-overview").inner_text()
            assert "Error" not in page.locator("body").inner_text()
        assert "Overview all-MiniLM-L6-v2" in pretrained_panel and "%" in pretrained_panel
        assert "Overview LSTM" in scratch_panel and "%" in scratch_panel
    finally:
        demo.close()


def test_an_encoder_that_cannot_be_had_says_what_fixes_it(encoder_commit, tmp_path, monkeypatch):
    """Offline: the setting that keeps it so; without an answering Hub: the Hub's address; either way the
    mirror folder that would do, and a mirror that lacks this encoder is named."""
    from huggingface_hub import constants

    from genre_hf.modeling import presets
    from tests.hub_server import HubServer, hub_env

    preset = f"hf://{ENCODER_REPO}"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError) as offline:
        presets.resolve(preset, encoder_commit)
    assert str(offline.value) == (
        f"the text encoder {preset} (revision {encoder_commit[:12]}) is not in the Hub cache, and HF_HUB_OFFLINE=1 keeps it "
        "from being downloaded: unset HF_HUB_OFFLINE to download it once, or put a copy of its Hub files in "
        "$GENRE_HF_PRESET_MIRROR/all-MiniLM-L6-v2")
    server = HubServer(tmp_path / "hub").start()
    hub_env(monkeypatch, server, tmp_path / "home")  # online, the Hub on 127.0.0.1...
    server.stop()  # ...and gone: each request is refused
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)  # its retries, without 23 s of waits
    monkeypatch.setenv("GENRE_HF_PRESET_MIRROR", str(tmp_path / "mirror"))  # set, but holding no copy of this encoder
    with pytest.raises(ValueError) as unreachable:
        presets.resolve(preset, encoder_commit)
    assert str(unreachable.value) == (
        f"the text encoder {preset} (revision {encoder_commit[:12]}) is neither in the Hub cache nor reachable at {server.url}: "
        f"connect to the Hub, or put a copy of its Hub files in $GENRE_HF_PRESET_MIRROR/all-MiniLM-L6-v2 ({tmp_path / 'mirror'} "
        "has no all-MiniLM-L6-v2/)")


def test_a_family_whose_encoder_cannot_be_had_is_shown_unavailable_and_its_poster_model_answers(
        classifier, pretrained_dir, tiny_model_dir, sample_movie, tmp_path, monkeypatch):
    """A folder on LiteRT keeps its encoder and always answers; one whose text encoder runs on TensorFlow
    (overview.runtime "tensorflow": here the same models, their encoder switched) reads the preset, and
    without the Hub, its cache or a mirror (here HF_HUB_OFFLINE=1 and an empty cache) cannot have it. The app serves both families anyway: the pretrained one is marked in the family
    picker, with the one line that says why and what fixes it; its poster model answers, and its fusion model
    reads the poster alone, exactly as `predict(poster=...)`; its overview panel says it is unavailable (never
    "Error"); Explain gives the heat maps; the from-scratch family answers in full."""
    import dataclasses

    from gradio_client import Client, handle_file
    from huggingface_hub import constants

    from genre_hf import GenreClassifier
    from genre_hf.app.labels import family_label
    from genre_hf.app.page import build_demo, family_choice
    from genre_hf.app.serve import launch
    from genre_hf.hub.folder import WEIGHTS_FILE
    from tests.conftest import free_port
    from tests.page_layout import look, screenshots_folder
    from tests.test_browser import CHROMIUM, enter_movie, open_page

    poster, overview, _ = sample_movie
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert classifier.unavailable_inputs() == {}  # its folder keeps the encoder
    config = classifier.config
    on_tensorflow = dataclasses.replace(config, overview=dataclasses.replace(config.overview, runtime="tensorflow", converted_sha256=""))
    classifier = GenreClassifier(on_tensorflow, classifier.vocabulary, classifier.calibration, weights=pretrained_dir / WEIGHTS_FILE)
    reasons = classifier.unavailable_inputs()
    assert list(reasons) == ["overview"] and reasons["overview"].startswith(f"the text encoder hf://{ENCODER_REPO} (revision ")
    assert "HF_HUB_OFFLINE" in reasons["overview"] and "GENRE_HF_PRESET_MIRROR" in reasons["overview"]
    with pytest.raises(ValueError, match="unset HF_HUB_OFFLINE"):  # from Python, the same line
        classifier.predict(poster=poster, overview=overview)
    expected = classifier.predict(poster=poster)
    scratch = GenreClassifier.from_pretrained(tiny_model_dir)
    pretrained = family_label(classifier)
    demo = build_demo({family_label(scratch): scratch, pretrained: classifier})
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        answer = client.predict(handle_file(str(poster)), overview, pretrained, api_name="/predict")
        assert answer["overview"] == {"unavailable": reasons["overview"], "message": "Unavailable here: its overview encoder cannot be loaded"}
        for name in ("poster", "fusion"):
            assert dict(answer[name]["probabilities"]) == pytest.approx(expected[name]["probabilities"], abs=1e-5), name
            assert answer[name]["genres"] == expected[name]["genres"]
        assert answer["errors"] == [] and answer["notes"][0].startswith("The overview was not read: this family's overview encoder")
        explained = client.predict(handle_file(str(poster)), overview, None, pretrained, api_name="/explain")
        assert explained["errors"] == [] and set(explained["heat_maps"]) == {"poster", "fusion"} and explained["word_scores"] == {}
        assert not client.predict(None, overview, None, pretrained, api_name="/explain")["heat_maps"]
        full = client.predict(handle_file(str(poster)), overview, family_label(scratch), api_name="/predict")
        assert all("probabilities" in full[name] for name in ("poster", "overview", "fusion"))
        if not Path(CHROMIUM).exists():
            pytest.skip(f"no browser at {CHROMIUM}: the API part passed")
        with open_page(url, 800, 1280) as page:
            choice = page.locator("#family").get_by_text(family_choice(pretrained, {}))
            assert choice.inner_text() == family_choice(pretrained, reasons) == f"{family_choice(pretrained, {})} (overview unavailable here)"
            notice = page.locator("#unavailable").inner_text()
            assert reasons["overview"] in notice and "Its poster model answers" in notice
            choice.click()
            enter_movie(page, poster, overview)
            page.get_by_role("button", name="Predict genres").click()
            page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=30_000)
            panels = {name: page.locator(f"#panel-{name}").inner_text() for name in ("poster", "overview", "fusion")}
            look(page, screenshots_folder(tmp_path), "laptop-family-pretrained-unavailable")
            page.set_viewport_size({"width": 390, "height": 844})
            look(page, screenshots_folder(tmp_path), "phone-family-pretrained-unavailable")
            assert "Error" not in page.locator("body").inner_text()
        assert "%" in panels["poster"] and "%" in panels["fusion"]
        assert "Unavailable here: its overview encoder cannot be loaded" in panels["overview"]
    finally:
        demo.close()


def test_the_throughput_benchmark_runs_at_a_tiny_size(pretrained_dir, encoder_hub, subset_dir, monkeypatch, capsys):
    """benchmarks/pretrained_speed.py on this family's model and 8 test-split movies (see tests/test_benchmarks.py)."""
    from tests.test_benchmarks import benchmark

    monkeypatch.setenv("GENRE_HF_DATA", str(subset_dir))
    benchmark("pretrained_speed").main([str(pretrained_dir), "--movies", "8", "--repeats", "1"])
    out = capsys.readouterr().out
    assert re.search(r"^8 test-split movies, mean \d+ WordPiece tokens", out, re.M)
    assert re.search(r"MiniLM forward on TensorFlow \(reference\): +[\d.]+ movies/s", out)
    assert re.search(r"predict, a batch \(all three models\): +[\d.]+ movies/s +[\d.]+x the reference \(goal 2.0x\)", out)
    assert re.search(r"warm process: load, then first prediction: [\d.]+ s, then [\d.]+ s \(goal 0.3 s", out)
    assert re.search(r"Poster EfficientNet-Lite0 on litert_float32: +[\d.]+ movies/s", out)
    assert re.search(r"predict against its encoders alone: +[\d.]+ movies/s for the two encoders' passes; predict [\d.]+x of that \(goal 0.95x\)", out)
