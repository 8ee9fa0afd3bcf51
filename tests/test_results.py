"""results.json stands on its own; the card tells the truth; results reach a Hub card's model-index."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError

from genre_hf.data.loader import load_movies
from genre_hf.evaluation import results
from genre_hf.evaluation.published import COURSEWORK
from genre_hf.hub.card import TEMPLATE, render_card
from genre_hf.hub.folder import read_config
from tests.conftest import HUB_TOKEN
from tests.hub_server import subprocess_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    return results.read(tiny_model_dir / "results.json")


def test_train_writes_a_results_file_that_stands_on_its_own(trained, tiny_model_dir, subset_dir):
    benchmark = json.loads((tiny_model_dir / "benchmark.json").read_text())
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert trained["kind"] == "train" and trained["split"] == "test" and trained["used_in_training"] is False
    assert trained["seeds"] == [config["training"]["seed"]] and trained["config"] == config and trained["genres"] == config["genres"]
    for name in ("poster", "overview", "fusion", "prior", "tfidf_logreg"):
        scores = {**benchmark["test"]["models"], **benchmark["test"]["baselines"]}[name]
        assert trained["metrics"][name]["map"] == {"mean": scores["map"], "std": None, "values": [scores["map"]]}
        assert trained["metrics"][name]["tuned_macro_f1"]["mean"] == scores["tuned"]["macro_f1"]
        assert trained["metrics"][name]["classwise_ece_calibrated"]["mean"] == scores["classwise_ece_calibrated"]
        assert [row["genre"] for row in trained["per_genre"][name]] == config["genres"]
    data = trained["data"]
    assert data["name"] == subset_dir.name and data["kind"] == "upstream" and data["revision"] is None
    assert data["movies"] == json.loads((tiny_model_dir / "training_report.json").read_text())["movies"]
    assert data["split_rule"].startswith("cut by a hash of the id (validation 0.25, test 0.1")
    # The fingerprint is of the content: recomputed from the loader's rows, it is the same.
    movies, _ = load_movies(subset_dir, split=_spec(config))
    splits = {name: SimpleNamespace(ids=part["id"], texts=lambda part=part: {"overview": part["overview"], "genres": part["genres"]})
              for name, part in movies.items()}
    assert data["fingerprint"] == results.content_fingerprint(splits)
    splits["test"].texts = lambda: {"overview": ["changed", *movies["test"]["overview"][1:]], "genres": movies["test"]["genres"]}
    assert results.content_fingerprint(splits) != data["fingerprint"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert trained["software"]["git_commit"] == head and trained["software"]["genre_hf"]
    assert trained["software"]["tensorflow"] and trained["hardware"]["cpu_count"] == os.cpu_count()
    assert trained["hardware"]["cpu_model"] and trained["hardware"]["gpus"] == []
    run = trained["timing"]["runs"][0]
    assert set(run["fit_seconds"]) == {"poster", "overview", "fusion"} and trained["timing"]["total_seconds"] >= run["seconds"] > 0


def test_an_incomplete_results_file_is_refused(trained, tmp_path):
    broken = {key: value for key, value in trained.items() if key != "seeds"}
    with pytest.raises(ValueError, match="not a complete results file: seeds is missing"):
        results.check(broken)
    wrong = json.loads(json.dumps(trained))
    wrong["seeds"] = [1, 2]
    with pytest.raises(ValueError, match="metrics.poster.map has 1 values for 2 seeds"):
        results.check(wrong)
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read the results file"):
        results.read(tmp_path / "results.json")


def test_the_card_tells_the_truth(tiny_model_dir, tmp_path):
    card = ModelCard.load(tiny_model_dir / "README.md")
    assert f'GenreClassifier.from_pretrained("{tiny_model_dir}")' in card.text  # where it was saved, not a made-up repo
    assert card.data.datasets is None  # trained from a folder: no Hub dataset id to claim
    tasks = {result.metric_name.split(" ")[0]: result.task_type for result in card.data.eval_results}
    assert tasks == {"Poster": "image-classification", "Overview": "text-classification", "Fusion": "text-classification"}
    assert {result.metric_name for result in card.data.eval_results} >= {"Fusion class-wise calibration error (calibrated)"}
    # No figure typed by hand in the template: the coursework's come from the cited constant.
    template = TEMPLATE.read_text()
    assert set(re.findall(r"\d+\.\d+", template)) <= {"0.5"} and COURSEWORK["citation"] in card.text  # 0.5: the threshold
    assert f"| coursework CNN | {COURSEWORK['models']['poster']['val_bce']:.4f} |" in card.text
    # The coursework comparison scales by the model's own genre count.
    config = read_config(tiny_model_dir)
    training = json.loads((tiny_model_dir / "training_report.json").read_text())
    for genres in (len(config.genres), 13):
        text = render_card(tiny_model_dir, dataclasses.replace(config, genres=config.genres[:genres])).text
        expected = training["models"]["poster"]["best_val_bce"] * genres / COURSEWORK["columns"]
        assert f"val BCE (ours x {genres}/25)" in text and f"| Poster CNN | {expected:.4f} |" in text


def test_evaluate_pushes_its_results_to_the_hub_model_index(tiny_model_dir, data_dir, hub, tmp_path, monkeypatch):
    from genre_hf import GenreClassifier
    from genre_hf.hub.card import push_results
    from tests.conftest import write_subset

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    GenreClassifier.from_pretrained(tiny_model_dir).push_to_hub("imdb-genres")  # a bare name: the card says the full id
    before = ModelCard.load("user/imdb-genres")
    assert 'GenreClassifier.from_pretrained("user/imdb-genres")' in before.text
    heldout = write_subset(data_dir, tmp_path / "heldout-imdb", rows=150, start=4000)
    env = subprocess_env(hub, tmp_path / "cli_home")
    env["HF_TOKEN"] = HUB_TOKEN
    command = [sys.executable, "-m", "genre_hf", "evaluate", "--model", str(tiny_model_dir), "--data", str(heldout), "--split", "test",
               "--output", str(tmp_path / "out" / "report.json"), "--push-results", "user/imdb-genres"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    pushed = results.read(tmp_path / "out" / "report.results.json")
    assert pushed["kind"] == "evaluate" and pushed["split"] == "test" and pushed["data"]["name"] == "heldout-imdb"

    card = ModelCard.load("user/imdb-genres")
    found = {(r.dataset_name, r.metric_name): r for r in card.data.eval_results}
    for model, title in (("poster", "Poster CNN"), ("overview", "Overview LSTM"), ("fusion", "Fusion")):
        entry = found[("heldout-imdb (test split)", f"{title} mAP")]
        assert entry.metric_value == pytest.approx(pushed["metrics"][model]["map"]["mean"], abs=1e-4)
        assert entry.task_type == ("image-classification" if model == "poster" else "text-classification")
        assert entry.dataset_split == "test"
        mine = found[("heldout-imdb (test split)", f"{title} macro F1 (tuned thresholds)")]
        assert mine.metric_value == pytest.approx(pushed["metrics"][model]["tuned_macro_f1"]["mean"], abs=1e-4)
    assert len(card.data.eval_results) == 2 * len(before.data.eval_results)  # the training figures are kept beside them
    assert card.text == before.text  # only the metadata changed

    # Pushing again updates the same entries instead of adding copies; a missing repo is an error.
    changed = json.loads(json.dumps(pushed))
    changed["metrics"]["fusion"]["map"]["mean"] = 0.5
    push_results(changed, "user/imdb-genres")
    again = ModelCard.load("user/imdb-genres")
    assert len(again.data.eval_results) == len(card.data.eval_results)
    assert {(r.dataset_name, r.metric_name): r.metric_value for r in again.data.eval_results}[("heldout-imdb (test split)", "Fusion mAP")] == 0.5
    with pytest.raises(HfHubHTTPError):
        push_results(pushed, "user/no-such-model")


def _spec(config: dict):
    from genre_hf.data.splits import SplitSpec

    return SplitSpec(**config["split"])
