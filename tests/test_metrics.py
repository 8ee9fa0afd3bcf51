"""The local `multilabel_genres` evaluate metric against scikit-learn and hand computations."""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

GENRES = ["Action", "Comedy", "Drama", "Horror", "Western", "Romance"]
EMPTY = 4  # "Western" has no positives in the random data


@pytest.fixture(scope="module")
def offline_hf(tmp_path_factory):
    """Offline Hub/evaluate with a throwaway HF_HOME; evaluate reads these when first imported."""
    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_EVALUATE_OFFLINE", "1")
        import evaluate.config

        # In case another test imported evaluate first, point its already-read settings here too.
        mp.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        mp.setattr(evaluate.config, "HF_METRICS_CACHE", home / "metrics")
        mp.setattr(evaluate.config, "HF_MODULES_CACHE", home / "modules")
        yield home


@pytest.fixture(scope="module")
def metric(offline_hf):
    from genre_hf.evaluation.metrics import load_metric

    return load_metric()


@pytest.fixture(scope="module")
def mod(offline_hf):
    from genre_hf.evaluation.metrics import multilabel_genres

    return multilabel_genres


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n, g = 300, len(GENRES)
    y = (rng.random((n, g)) < rng.uniform(0.1, 0.5, g)).astype(np.int32)
    y[:, EMPTY] = 0
    # Informative but noisy scores; float32 because the metric stores predictions as float32.
    p = expit(rng.normal(0, 1, (n, g)) + 1.5 * (2 * y - 1) - 0.5).astype(np.float32)
    return p, y


def _prf(y, pred, average):
    return precision_recall_fscore_support(y, pred, average=average, zero_division=0)


def test_load_metric_is_cached(metric):
    from genre_hf.evaluation.metrics import load_metric

    assert load_metric() is metric
    assert type(metric).__name__ == "MultilabelGenres"


@pytest.mark.parametrize("per_genre_thresholds", [False, True])
def test_matches_sklearn(metric, data, per_genre_thresholds):
    p, y = data
    t = np.linspace(0.3, 0.7, len(GENRES)) if per_genre_thresholds else 0.5
    res = metric.compute(
        predictions=p, references=y, thresholds=list(t) if per_genre_thresholds else t,
        genres=GENRES, per_genre=True,
    )
    pred = (p >= np.broadcast_to(t, (len(GENRES),))).astype(int)

    pc = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    assert res["bce"] == pytest.approx(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)), rel=1e-9)
    micro = _prf(y, pred, "micro")
    assert res["micro_precision"] == pytest.approx(micro[0])
    assert res["micro_recall"] == pytest.approx(micro[1])
    assert res["micro_f1"] == pytest.approx(micro[2])
    for avg in ("macro", "weighted", "samples"):
        assert res[f"{avg}_f1"] == pytest.approx(_prf(y, pred, avg)[2])
    aps = [average_precision_score(y[:, g], p[:, g]) for g in range(len(GENRES)) if g != EMPTY]
    assert res["map"] == pytest.approx(np.mean(aps))
    assert res["label_cardinality"] == pytest.approx(y.sum(1).mean())
    assert res["predicted_cardinality"] == pytest.approx(pred.sum(1).mean())
    assert all(type(v) is float for k, v in res.items() if k != "per_genre")

    prec, rec, f1, support = _prf(y, pred, None)
    for g, row in enumerate(res["per_genre"]):
        assert row["genre"] == GENRES[g] and row["support"] == support[g]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((prec[g], rec[g], f1[g]))
        assert row["threshold"] == pytest.approx(float(np.broadcast_to(t, (len(GENRES),))[g]))
        if g == EMPTY:
            assert row["ap"] is None
        else:
            assert row["ap"] == pytest.approx(average_precision_score(y[:, g], p[:, g]))


def test_per_genre_needs_names_and_shapes_must_match(metric, data):
    p, y = data
    with pytest.raises(ValueError):
        metric.compute(predictions=p, references=y, per_genre=True)
    with pytest.raises(ValueError):
        metric.compute(predictions=p, references=y, thresholds=[0.5, 0.5])
    assert "per_genre" not in metric.compute(predictions=p, references=y)


def test_reliability_curve_by_hand(mod):
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    y = np.array([0, 1, 0, 1, 1])
    curve = mod.reliability_curve(p, y, n_bins=10)
    assert curve.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    np.testing.assert_allclose(curve.bin_centers[[0, 1, 9]], [0.05, 0.15, 0.95])
    np.testing.assert_allclose(curve.mean_confidence[[0, 1, 9]], [0.05, 0.135, 0.975])
    np.testing.assert_allclose(curve.observed_frequency[[0, 1, 9]], [0.0, 0.5, 1.0])
    assert np.isnan(curve.mean_confidence[2])
    expected = (1 * 0.05 + 2 * abs(0.5 - 0.135) + 2 * 0.025) / 5
    assert mod.expected_calibration_error(p, y, n_bins=10) == pytest.approx(expected)


def test_ece_small_when_calibrated_large_when_overconfident(metric):
    rng = np.random.default_rng(1)
    true_p = expit(rng.normal(-1, 1.5, (20000, 5)))
    y = (rng.random(true_p.shape) < true_p).astype(np.int32)
    calibrated = metric.compute(predictions=true_p.astype(np.float32), references=y)
    assert calibrated["ece"] < 0.01
    overconfident = expit(3 * logit(true_p)).astype(np.float32)
    over = metric.compute(predictions=overconfident, references=y)
    assert over["ece"] > 0.1
    assert over["bce"] > calibrated["bce"]


def test_classwise_calibration_error_is_each_genres_own_averaged(metric, mod, data):
    p, y = data
    res = metric.compute(predictions=p, references=y, genres=GENRES, per_genre=True)
    own = [mod.expected_calibration_error(p[:, g], y[:, g]) for g in range(len(GENRES))]
    assert [row["ece"] for row in res["per_genre"]] == pytest.approx(own)
    assert res["classwise_ece"] == pytest.approx(np.mean(own))
    # Pooled over cells, one genre's over-confidence cancels another's under-confidence; class-wise it does not.
    rng = np.random.default_rng(2)
    frequency = np.array([0.1] * 5 + [0.5] * 5)
    y = (rng.random((4000, 10)) < frequency).astype(np.int32)
    p = np.full((4000, 10), 0.3, np.float32)  # right on average, wrong for every genre by 0.2
    res = metric.compute(predictions=p, references=y)
    assert res["ece"] < 0.02 and res["classwise_ece"] == pytest.approx(0.2, abs=0.02)
