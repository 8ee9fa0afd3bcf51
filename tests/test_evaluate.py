"""The evaluation command: its numbers match a by-hand computation, and it tunes nothing."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from genre_hf.data.loader import all_rows, load_movies
from genre_hf.features.featurizer import movie_features
from genre_hf.inference.classifier import GenreClassifier

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evaluated(tiny_model_dir, subset_dir, data_dir, tmp_path_factory):
    """`genre-hf evaluate` on 300 real movies the tiny model never saw, with baselines."""
    from tests.conftest import write_subset

    heldout = write_subset(data_dir, tmp_path_factory.mktemp("heldout") / "imdb", rows=300, start=3000)
    out = tmp_path_factory.mktemp("evaluation")
    command = [sys.executable, "-m", "genre_hf", "evaluate", "--model", str(tiny_model_dir), "--data", str(heldout),
               "--output", str(out / "report.json"), "--plots", str(out), "--baselines-from", str(subset_dir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return heldout, out, result.stdout


def test_report_matches_a_by_hand_computation(evaluated, tiny_model_dir):
    heldout, out, _ = evaluated
    report = json.loads((out / "report.json").read_text())
    skipped = sum(report["load_report"]["skipped"].values())
    assert report["movies"] == 300 - skipped and skipped < 5 and report["split"] == "all"
    predictor = GenreClassifier.load(tiny_model_dir)
    movies, _ = load_movies(heldout, split=predictor.config.split)
    features = movie_features(all_rows(movies), predictor.featurizer)
    y = features.labels
    for name in ("poster", "overview", "fusion"):
        p = predictor.raw_probabilities(name, features.inputs)
        ours = report["models"][name]
        at_half = (p >= 0.5).astype(int)
        clipped = np.clip(p, 1e-7, 1 - 1e-7)
        assert ours["bce"] == pytest.approx(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)), abs=1e-5)
        assert ours["micro_precision"] == pytest.approx(precision_score(y, at_half, average="micro", zero_division=0), abs=1e-6)
        assert ours["micro_recall"] == pytest.approx(recall_score(y, at_half, average="micro", zero_division=0), abs=1e-6)
        assert ours["micro_f1"] == pytest.approx(f1_score(y, at_half, average="micro", zero_division=0), abs=1e-6)
        assert ours["macro_f1"] == pytest.approx(f1_score(y, at_half, average="macro", zero_division=0), abs=1e-6)
        present = y.sum(axis=0) > 0
        expected_map = np.mean([average_precision_score(y[:, g], p[:, g]) for g in np.flatnonzero(present)])
        assert ours["map"] == pytest.approx(expected_map, abs=1e-5)
        # tuned figures use the model's own thresholds on calibrated probabilities: nothing refitted here
        calibrated = predictor.calibrated(name, p)
        tuned = calibrated >= predictor.thresholds(name)
        cap = predictor.max_genres(name)
        if cap is not None:  # at most `cap` of those over their thresholds, the most likely
            for row in range(len(tuned)):
                over = np.flatnonzero(tuned[row])
                tuned[row, over[np.argsort(-calibrated[row, over])[cap:]]] = False
        tuned = tuned.astype(int)
        assert ours["tuned"]["micro_f1"] == pytest.approx(f1_score(y, tuned, average="micro", zero_division=0), abs=1e-6)
        assert [e["threshold"] for e in ours["per_genre"]] == pytest.approx(list(predictor.thresholds(name)), abs=1e-6)


def test_benchmark_writes_json_markdown_and_plots(evaluated):
    _, out, stdout = evaluated
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"poster", "overview", "fusion"}
    assert set(report["baselines"]) == {"prior", "tfidf_logreg"}
    for scores in [*report["models"].values(), *report["baselines"].values()]:
        assert {"bce", "micro_precision", "micro_recall", "micro_f1", "macro_f1", "map", "ece", "ece_calibrated"} <= set(scores)
        assert {"micro_f1", "macro_f1", "weighted_f1", "samples_f1"} <= set(scores["tuned"])
        assert len(scores["per_genre"]) == 20
    markdown = (out / "report.md").read_text()
    assert "TF-IDF + logistic regression" in markdown and "| Western |" in markdown
    assert "| Fusion |" in stdout
    for name in ("pr_curves.png", "per_genre_f1.png", "reliability.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_split_is_a_clear_error(tiny_model_dir, subset_dir):
    result = subprocess.run([sys.executable, "-m", "genre_hf", "evaluate", "--model", str(tiny_model_dir), "--data",
                             str(subset_dir), "--split", "tset"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no split 'tset'" in result.stderr
    assert "Traceback" not in result.stderr


def test_scoring_every_row_of_the_training_data_warns_that_it_includes_training_rows(tiny_model_dir, subset_dir):
    from genre_hf.cli.evaluate import evaluate

    training = json.loads((Path(tiny_model_dir) / "training_report.json").read_text())
    said = []
    report = evaluate(str(tiny_model_dir), str(subset_dir), log=said.append)
    warning = next(line for line in said if line.startswith("WARNING"))
    assert (f"including {training['movies']['train']:,} train rows the models were fitted on and "
            f"{training['movies']['validation']:,} validation rows they were tuned on") in warning
    assert report["provenance"]["used_in_training"] is True and report["split"] == "all"

    said.clear()
    report = evaluate(str(tiny_model_dir), str(subset_dir), split="test", log=said.append)
    assert not any(line.startswith("WARNING") for line in said)
    assert "Scoring the test split of the training data: never used for training or tuning." in said
    assert report["provenance"]["used_in_training"] is False and report["movies"] == training["movies"]["test"]

    said.clear()
    evaluate(str(tiny_model_dir), str(subset_dir), split="validation", log=said.append)
    assert any(line.startswith("WARNING: Scoring the validation split of the training data: epochs, temperatures and "
                               "thresholds were tuned on these rows") for line in said)


def test_held_out_data_is_checked_movie_by_movie_against_the_training_record(evaluated, tiny_model_dir, subset_dir, tmp_path):
    """The folder records the ids it was fitted and tuned on: a held-out folder that shares none is held
    out (no warning), one that shares some says how many; an older folder without the record falls back
    to saying what it cannot know."""
    import shutil

    from genre_hf.cli.evaluate import evaluate
    from tests.conftest import write_subset

    _, out, stdout = evaluated
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["same_data_as_training"] is False and report["provenance"]["used_in_training"] is False
    assert "WARNING" not in stdout and "none of its" in stdout and "is among those the models were fitted or tuned on" in stdout
    assert (out / "report.results.json").is_file()

    training = json.loads((Path(tiny_model_dir) / "training_report.json").read_text())
    overlapping = write_subset(subset_dir, tmp_path / "some", rows=100)  # 100 of the movies it trained and tuned on
    said = []
    report = evaluate(str(tiny_model_dir), str(overlapping), log=said.append)
    warning = next(line for line in said if line.startswith("WARNING"))
    fitted, tuned = report["provenance"]["scored_in_training"]["train"], report["provenance"]["scored_in_training"]["validation"]
    assert fitted + tuned > 0 and f"{fitted:,} of its movies are among those the models were fitted on" in warning
    assert report["provenance"]["used_in_training"] is True

    older = tmp_path / "older"
    shutil.copytree(tiny_model_dir, older)
    del training["trained_on"]
    (older / "training_report.json").write_text(json.dumps(training))
    said.clear()
    report = evaluate(str(older), str(overlapping), log=said.append)
    assert report["provenance"]["used_in_training"] is None
    assert any("if these movies are in the training data" in line for line in said if line.startswith("WARNING"))
