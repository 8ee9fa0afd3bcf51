"""`genre-hf benchmark`: several seeds on real movies, mean ± std on test, ties within the spread."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genre_hf.evaluation import results
from genre_hf.evaluation.benchmark import comparisons, run_benchmark, verdict
from tests.conftest import tiny_config, write_subset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def benchmarked(data_dir, tmp_path_factory):
    folder = write_subset(data_dir, tmp_path_factory.mktemp("bench") / "imdb", rows=300)
    out = tmp_path_factory.mktemp("bench_out")
    config = tiny_config(epochs=1, training={"seed": 7})
    found = run_benchmark(str(folder), out, seeds=2, config=config, log=lambda message: None)
    return found, out


def test_every_model_and_baseline_gets_a_mean_and_spread_on_test(benchmarked):
    found, out = benchmarked
    assert results.read(out / "results.json") == json.loads(json.dumps(found))
    assert found["kind"] == "benchmark" and found["split"] == "test" and found["used_in_training"] is False
    assert found["seeds"] == [7, 8] and [run["seed"] for run in found["timing"]["runs"]] == [7, 8]
    assert set(found["metrics"]) == {"poster", "overview", "fusion", "prior", "tfidf_logreg"}
    for name, metrics in found["metrics"].items():
        for metric, value in metrics.items():
            assert len(value["values"]) == 2 and value["mean"] == pytest.approx(np.mean(value["values"]))
            assert value["std"] == pytest.approx(np.std(value["values"], ddof=1))
    # The seeds train different networks; the baselines have no seed, so their spread is 0.
    assert found["metrics"]["fusion"]["map"]["std"] > 0 and found["metrics"]["poster"]["bce"]["std"] > 0
    assert found["metrics"]["tfidf_logreg"]["map"]["std"] == 0
    assert all(len(rows) == len(found["genres"]) for rows in found["per_genre"].values())
    assert found["per_genre"]["fusion"][0]["f1"]["std"] is not None
    markdown = (out / "benchmark.md").read_text()
    assert "## Who leads" in markdown and "## Per genre: calibration error" in markdown and " ± " in markdown
    for name in ("summary.png", "per_genre_f1.png", "per_genre_ap.png", "per_genre_ece.png", "pr_curves.png", "reliability.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name


def test_the_verdicts_follow_the_tie_rule(benchmarked):
    found, _ = benchmarked
    for row in found["comparisons"]:
        leader = found["metrics"][row["leader"]][row["metric"]]
        for entry in row["ranking"][1:]:
            other = found["metrics"][entry["model"]][row["metric"]]
            gap = abs(leader["mean"] - other["mean"])
            spread = float(np.hypot(leader["std"], other["std"]))
            assert entry["against_leader"] == ("tie" if gap <= spread else "behind"), (row["metric"], entry)


def test_a_lead_within_the_spread_is_a_tie():
    a, b = {"mean": 0.442, "std": 0.010}, {"mean": 0.425, "std": 0.0}
    assert verdict(a, b, higher_is_better=True) == "win"  # 0.017 > 0.010
    assert verdict({**a, "std": 0.02}, b, higher_is_better=True) == "tie"
    assert verdict(b, a, higher_is_better=True) == "loss"
    assert verdict({"mean": 0.20, "std": 0.01}, {"mean": 0.25, "std": 0.01}, higher_is_better=False) == "win"  # a lower loss
    metrics = {"fusion": {"map": {"mean": 0.442, "std": 0.02}}, "tfidf_logreg": {"map": {"mean": 0.425, "std": 0.0}},
               "prior": {"map": {"mean": 0.12, "std": 0.0}}}
    (row,) = comparisons(metrics, {"fusion": "Fusion"})
    assert row["leader"] == "fusion" and [r["against_leader"] for r in row["ranking"]] == ["leader", "tie", "behind"]


def test_one_seed_is_refused_in_one_line(subset_dir):
    result = subprocess.run([sys.executable, "-m", "genre_hf", "benchmark", "--data", str(subset_dir), "--seeds", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == "error: a benchmark needs at least 2 seeds to measure a spread, not 1"
