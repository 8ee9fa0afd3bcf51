"""Explanations: faithfulness checks on real movies (not pictures), exact agreement with `predict`,
bad input, the `/explain` endpoint through gradio_client and the Explain section in a real browser."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from genre_hf.data.posters import poster_to_array
from genre_hf.inference import explain
from genre_hf.inference.explain import CAM_MODELS, OVERLAY_SIDE, WORD_MODELS, explainer, to_jsonable
from tests.conftest import free_port
from tests.test_browser import CHROMIUM, page_with_movie

MOVIES = 8
K = 3  # words removed in the faithfulness check


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def movies(data_dir) -> list[dict]:
    """Real movies the tiny model never saw (it trained on the first 600 rows), with a poster and
    an overview of at least 12 words."""
    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[2000:2100]
    chosen = []
    for row in rows:
        poster = data_dir / "Images" / f"{row['Id']}.jpg"
        if poster.is_file() and len(row["Overview"].split()) >= 12:
            chosen.append({"poster": poster, "overview": row["Overview"].strip()})
    assert len(chosen) >= MOVIES
    return chosen[:MOVIES]


@pytest.fixture(scope="module")
def explanations(classifier, movies) -> list[dict]:
    return [classifier.explain(movie["poster"], movie["overview"]) for movie in movies]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    rho = spearmanr(a.ravel(), b.ravel())[0]
    return 0.0 if np.isnan(rho) else float(rho)  # a constant map ranks nothing


# ---- overview: word occlusion ------------------------------------------------------------------


def test_removing_the_top_words_lowers_the_genre_more_than_removing_random_words(classifier, movies, explanations):
    rng = np.random.default_rng(0)
    drops = {name: {"top": [], "random": []} for name in WORD_MODELS}
    for movie, explanation in zip(movies, explanations):
        index = classifier.genres.index(explanation["genre"])
        image = poster_to_array(movie["poster"], classifier.featurizer.image_size)[None]
        for name in WORD_MODELS:
            pairs = explanation["word_scores"][name]["words"]
            words = [word for word, _ in pairs]
            scores = np.array([score for _, score in pairs], dtype=float)
            top = list(np.argsort(-scores)[:K])
            draws = [list(rng.choice(len(words), K, replace=False)) for _ in range(10)]
            texts = [" ".join(words)] + [" ".join(w for i, w in enumerate(words) if i not in set(r)) for r in [top, *draws]]
            posters = np.repeat(image, len(texts), axis=0) if name == "fusion" else None
            probabilities = classifier.probabilities(posters, texts)[name][:, index]
            drops[name]["top"].append(probabilities[0] - probabilities[1])
            drops[name]["random"].append(np.mean(probabilities[0] - probabilities[2:]))
    for name, drop in drops.items():
        top, random = np.mean(drop["top"]), np.mean(drop["random"])
        print(f"{name}: removing the top {K} words lowers p by {top:.4f}, {K} random words by {random:.4f}")
        assert top > 0 and top > random + 0.005, (name, drop)


def test_word_scores_are_the_probability_without_the_word(classifier, movies, explanations):
    movie, explanation = movies[0], explanations[0]
    index = classifier.genres.index(explanation["genre"])
    pairs = explanation["word_scores"]["overview"]["words"]
    words = movie["overview"].split()
    assert [word for word, _ in pairs] == words
    position = int(np.argmax([abs(score) for _, score in pairs]))
    without = " ".join(words[:position] + words[position + 1 :])
    expected = classifier.probabilities(None, [movie["overview"]])["overview"][0, index] - classifier.probabilities(None, [without])["overview"][0, index]
    assert pairs[position][1] == pytest.approx(expected, abs=1e-5)
    assert abs(pairs[position][1]) > 1e-4


# ---- poster: Grad-CAM --------------------------------------------------------------------------


def test_heat_maps_are_at_the_posters_aspect_in_0_1_with_a_png_overlay(explanations, movies):
    for movie, explanation in zip(movies, explanations):
        width, height = Image.open(movie["poster"]).size
        for name in CAM_MODELS:
            entry = explanation["heat_maps"][name]
            heat = entry["heatmap"]
            assert heat.dtype == np.float32 and 0.0 <= heat.min() and heat.max() <= 1.0
            assert max(heat.shape) == 64 and abs(heat.shape[1] / heat.shape[0] - width / height) < 0.05
            overlay = Image.open(io.BytesIO(entry["overlay_png"]))
            assert overlay.format == "PNG" and max(overlay.size) == OVERLAY_SIDE
            assert abs(overlay.size[0] / overlay.size[1] - width / height) < 0.02


def test_a_wide_poster_gets_a_wide_heat_map(classifier, movies):
    wide = np.asarray(Image.open(movies[0]["poster"]).convert("RGB").resize((300, 100)))
    explanation = classifier.explain(wide)
    assert explanation["heat_maps"]["poster"]["heatmap"].shape == (21, 64)
    assert Image.open(io.BytesIO(explanation["heat_maps"]["poster"]["overlay_png"])).size == (256, 85)


def test_grad_cam_changes_with_the_genre(classifier, movies, explanations):
    for name in CAM_MODELS:
        differences, correlations = [], []
        for movie, explanation in zip(movies, explanations):
            least = min(explanation["modalities"], key=lambda row: row["both"])["genre"]
            other = classifier.explain(movie["poster"], movie["overview"], genre=least)
            a, b = explanation["heat_maps"][name]["heatmap"], other["heat_maps"][name]["heatmap"]
            differences.append(np.abs(a - b).mean())
            correlations.append(rank_correlation(a, b))
        print(f"{name}: most vs least likely genre, mean |difference| {np.mean(differences):.3f}, rank correlation {np.mean(correlations):.2f}")
        assert np.mean(differences) > 0.03 and np.mean(correlations) < 0.6  # not the same map (identical: 0 and 1)


def test_grad_cam_degrades_as_the_weights_are_randomized_from_the_top(tiny_model_dir, movies, explanations):
    """The cascading model-randomization check of Adebayo et al. (2018): re-draw the poster model's
    layers from the head down; a map that reflects what the model learned stops resembling the
    trained model's map (a map that only reflected the image would not)."""
    from genre_hf import GenreClassifier

    randomized = GenreClassifier.from_pretrained(tiny_model_dir)

    def heat_map(movie, explanation):
        inputs = randomized.featurizer.poster_inputs(poster_to_array(movie["poster"], randomized.featurizer.image_size)[None])
        cam = explainer(randomized).grad_cam("poster", inputs, None, randomized.genres.index(explanation["genre"]))
        return explain.heat_map(cam, explain.poster_size(movie["poster"]), randomized.featurizer.image_size)

    assert rank_correlation(heat_map(movies[0], explanations[0]), explanations[0]["heat_maps"]["poster"]["heatmap"]) > 0.999
    rng = np.random.default_rng(0)
    layers = [layer for layer in reversed(randomized.models["poster"].layers) if hasattr(layer, "kernel")]
    assert [layer.name for layer in layers][:2] == ["poster_genres", "poster_embedding"] and len(layers) >= 4
    cascade = {}
    for layer in layers:
        for weight in layer.weights:
            values = weight.numpy()
            weight.assign(rng.normal(0.0, values.std() or 0.05, values.shape).astype(values.dtype))
        cascade[layer.name] = np.mean([
            rank_correlation(heat_map(movie, explanation), explanation["heat_maps"]["poster"]["heatmap"])
            for movie, explanation in zip(movies, explanations)
        ])
    print("rank correlation with the trained map as layers are randomized:", {k: round(v, 2) for k, v in cascade.items()})
    for name in list(cascade)[1:]:  # from the embedding down, the map is no longer the trained one
        assert abs(cascade[name]) < 0.5, cascade


# ---- the fusion model's modalities ---------------------------------------------------------------


def test_modality_table_is_exactly_what_predict_returns(classifier, movies, explanations):
    for movie, explanation in list(zip(movies, explanations))[:3]:
        poster, overview = movie["poster"], movie["overview"]
        both = classifier.predict(poster, overview)
        poster_blanked = classifier.predict(overview=overview)["fusion"]["probabilities"]
        overview_blanked = classifier.predict(poster=poster)["fusion"]["probabilities"]
        assert [row["genre"] for row in explanation["modalities"]] == list(both["fusion"]["probabilities"])
        for row in explanation["modalities"]:
            genre = row["genre"]
            assert row["both"] == both["fusion"]["probabilities"][genre]
            assert row["poster_blanked"] == poster_blanked[genre]
            assert row["overview_blanked"] == overview_blanked[genre]
            assert row["poster_adds"] == both["fusion"]["probabilities"][genre] - poster_blanked[genre]
            assert row["overview_adds"] == both["fusion"]["probabilities"][genre] - overview_blanked[genre]
            assert np.isfinite([row["poster_blanked"], row["overview_blanked"]]).all()  # a blank overview is no NaN
        for name in ("poster", "overview", "fusion"):
            assert explanation["probabilities"][name] == both[name]["probabilities"][explanation["genre"]]
        fusion = both["fusion"]
        assert explanation["top_genre"] == (fusion["genres"] or list(fusion["probabilities"]))[0] == explanation["genre"]


def test_one_input_explains_what_it_can(classifier, movies):
    poster, overview = movies[0]["poster"], movies[0]["overview"]
    alone = classifier.explain(poster=poster)
    assert set(alone["heat_maps"]) == set(CAM_MODELS) and alone["word_scores"] == {} and alone["modalities"] == []
    assert set(alone["probabilities"]) == {"poster", "fusion"}
    alone = classifier.explain(overview=overview, genre="drama")
    assert alone["genre"] == "Drama" and alone["heat_maps"] == {} and alone["modalities"] == []
    assert set(alone["word_scores"]) == set(WORD_MODELS) and set(alone["probabilities"]) == {"overview", "fusion"}
    assert all(score is not None for _, score in alone["word_scores"]["fusion"]["words"])
    one_word = classifier.explain(overview="murder")  # without its only word there is no overview
    word, score = one_word["word_scores"]["overview"]["words"][0]
    nothing = classifier.calibrated("overview", classifier.raw_probabilities("overview", classifier.featurizer.overview_inputs([""])))
    index = classifier.genres.index(one_word["genre"])
    assert word == "murder" and score == pytest.approx(one_word["probabilities"]["overview"] - nothing[0, index], abs=1e-5)


def test_the_explanation_is_json_with_no_nan(explanations):
    data = json.loads(json.dumps(to_jsonable(explanations[0]), allow_nan=False))
    heat = np.array(data["heat_maps"]["fusion"]["heatmap"])
    assert heat.ndim == 2 and base64.b64decode(data["heat_maps"]["fusion"]["overlay_png"]).startswith(b"\x89PNG")
    assert all(isinstance(word, str) and isinstance(score, float) for word, score in data["word_scores"]["fusion"]["words"])


def test_bad_input_is_a_clear_value_error(classifier, movies):
    poster, overview = movies[0]["poster"], movies[0]["overview"]
    with pytest.raises(ValueError, match="give a poster, a non-empty overview, or both"):
        classifier.explain()
    with pytest.raises(ValueError, match="give a poster, a non-empty overview, or both"):
        classifier.explain(overview="   ")
    with pytest.raises(ValueError, match="unknown genre 'Zombie': choose one of Action, "):
        classifier.explain(poster, overview, genre="Zombie")
    with pytest.raises(ValueError, match="one movie at a time"):
        classifier.explain([poster, poster], [overview, overview])
    with pytest.raises(ValueError, match="not a readable image"):
        classifier.explain(b"not an image", overview)


# ---- the app: /explain and the Explain section ---------------------------------------------------


@pytest.fixture(scope="module")
def app_url(classifier, tiny_model_dir):
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    demo = build_demo(classifier)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def test_explain_endpoint_through_gradio_client(app_url, classifier, movies, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    poster, overview = movies[1]["poster"], movies[1]["overview"]
    answer = client.predict(handle_file(str(poster)), overview, None, api_name="/explain")
    direct = classifier.explain(poster, overview)
    assert answer["errors"] == [] and answer["genre"] == direct["genre"] == direct["top_genre"]
    assert answer["word_scores"]["fusion"]["words"] == [[word, score] for word, score in direct["word_scores"]["fusion"]["words"]]
    assert answer["modalities"] == direct["modalities"]
    for name in CAM_MODELS:
        overlay = Image.open(io.BytesIO(base64.b64decode(answer["heat_maps"][name]["overlay_png"])))
        assert overlay.size == Image.open(io.BytesIO(direct["heat_maps"][name]["overlay_png"])).size
        assert np.allclose(answer["heat_maps"][name]["heatmap"], direct["heat_maps"][name]["heatmap"], atol=1e-4)

    chosen = client.predict(handle_file(str(poster)), overview, "horror", api_name="/explain")
    assert chosen["genre"] == "Horror" and chosen["probabilities"]["fusion"] == pytest.approx(
        classifier.predict(poster, overview)["fusion"]["probabilities"]["Horror"]
    )
    bad = tmp_path / "not_a_poster.jpg"
    bad.write_text("text, not an image\n")
    ignored = client.predict(handle_file(str(bad)), overview, None, api_name="/explain")
    assert ignored["errors"][0].startswith("Poster ignored: the poster file not_a_poster.jpg is not a readable image")
    assert ignored["heat_maps"] == {} and ignored["word_scores"]["overview"]["words"]
    assert client.predict(None, "  ", None, api_name="/explain")["errors"] == ["Give a poster, an overview or both."]
    unknown = client.predict(None, overview, "Zombie", api_name="/explain")
    assert unknown["genre"] is None and unknown["errors"][0].startswith("unknown genre 'Zombie'")


def test_explain_section_in_a_browser(app_url, classifier, movies, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test")
    poster, overview = movies[2]["poster"], movies[2]["overview"]
    expected = classifier.explain(poster, overview)
    screenshot = tmp_path / "explain.png"
    with page_with_movie(app_url, poster, overview, height=1800) as page:
        page.get_by_text("Explain: why each model says what it says").click()
        page.locator("#explain-button").click()
        for name in CAM_MODELS:
            page.locator(f"#explain-heat-{name} img").wait_for(timeout=30_000)
        page.locator("#explain-legend").get_by_text("Red:").wait_for(timeout=30_000)
        status = page.locator("#explain-status").inner_text()
        words = {name: page.locator(f"#explain-words-{name}").inner_text() for name in WORD_MODELS}
        sources = [page.locator(f"#explain-heat-{name} img").get_attribute("src") for name in CAM_MODELS]
        modalities = page.locator("#explain-modalities").inner_text()
        page.locator("#explain").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot), full_page=True)

    assert f"Explaining {expected['genre']}" in status
    for text in words.values():
        shown = text.split()
        assert sum(word in shown for word in overview.split()) >= len(overview.split()) - 2  # every word is shown
        assert "-1" in text and "+1" in text  # the colour legend
    assert all(source for source in sources)
    assert "The poster added" in modalities and expected["modalities"][0]["genre"] in modalities
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    print(f"screenshot: {screenshot}")
