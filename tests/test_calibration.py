"""Temperature scaling and threshold tuning on synthetic data with a known answer."""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import f1_score

from genre_hf.training.calibration import DEFAULT_GRID, apply_temperature, fit_temperature, tune_thresholds


def _bce(p, y):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _ece(p, y, n_bins=15):
    # Independent of the metric module on purpose (that one is tested in test_metrics.py).
    bins = np.minimum((p.ravel() * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        m = bins == b
        total += m.sum() / bins.size * abs(y.ravel()[m].mean() - p.ravel()[m].mean())
    return total


@pytest.fixture(scope="module")
def overconfident():
    rng = np.random.default_rng(0)
    true_p = expit(rng.normal(0, 1.5, (20000, 5)))
    y = (rng.random(true_p.shape) < true_p).astype(np.int32)
    return expit(logit(true_p) * 2.5).astype(np.float32), y  # T_true = 2.5 undoes the distortion


def test_fit_temperature_recovers_known_temperature(overconfident):
    p, y = overconfident
    t = fit_temperature(p, y)
    assert t == pytest.approx(2.5, rel=0.1)
    calibrated = apply_temperature(p, t)
    assert _bce(calibrated, y) < _bce(p, y)
    assert _ece(calibrated, y) < _ece(p, y) / 3
    assert _ece(calibrated, y) < 0.02


def test_fit_temperature_is_about_one_when_calibrated():
    rng = np.random.default_rng(1)
    p = expit(rng.normal(0, 1.5, (20000, 3)))
    y = rng.random(p.shape) < p
    assert fit_temperature(p, y) == pytest.approx(1.0, rel=0.1)


def test_apply_temperature_shape_dtype_identity():
    p = np.random.default_rng(2).random((7, 20))
    out = apply_temperature(p, 1.0)
    assert out.dtype == np.float32 and out.shape == p.shape
    np.testing.assert_allclose(out, p, rtol=1e-5, atol=1e-6)
    softer = apply_temperature(p, 2.0)
    assert np.all(np.abs(softer - 0.5) <= np.abs(p - 0.5) + 1e-6)
    with pytest.raises(ValueError):
        apply_temperature(p, 0.0)


@pytest.fixture(scope="module")
def threshold_data():
    """Genre 0: 600 positives, separable at 0.3. Genre 1: 600 positives, separable at 0.6.
    Genre 2: 2 positives (scores 0.9, 0.92) above negatives in [0, 0.85]. Genre 3: no positives."""
    rng = np.random.default_rng(3)
    n = 2000
    y = np.zeros((n, 4), dtype=np.int32)
    p = np.zeros((n, 4))
    y[:600, 0] = 1
    p[:, 0] = np.where(y[:, 0], rng.uniform(0.32, 0.9, n), rng.uniform(0.0, 0.28, n))
    y[600:1200, 1] = 1
    p[:, 1] = np.where(y[:, 1], rng.uniform(0.62, 0.99, n), rng.uniform(0.0, 0.58, n))
    y[[5, 700], 2] = 1
    p[:, 2] = rng.uniform(0.0, 0.85, n)
    p[[5, 700], 2] = [0.9, 0.92]
    p[:, 3] = rng.uniform(0.0, 0.5, n)
    return p, y


def test_tune_thresholds(threshold_data):
    p, y = threshold_data
    thresholds, t_global = tune_thresholds(p, y)
    own, t_global_own = tune_thresholds(p, y, prior_strength=0.0)
    assert thresholds.shape == (4,) and t_global == t_global_own

    # The global threshold maximises micro F1 over the grid.
    micro = [f1_score(y, (p >= t).astype(int), average="micro", zero_division=0) for t in DEFAULT_GRID]
    assert f1_score(y, (p >= t_global).astype(int), average="micro") == pytest.approx(max(micro))

    # Well-populated separable genres: their own optimum, barely moved by the prior.
    assert own[0] == pytest.approx(0.30, abs=0.011) and own[1] == pytest.approx(0.60, abs=0.011)
    assert thresholds[0] == pytest.approx(0.30, abs=0.02) and thresholds[1] == pytest.approx(0.60, abs=0.02)
    assert f1_score(y[:, 0], p[:, 0] >= own[0]) == 1.0

    # Rare genre (2 positives): own optimum is between the negatives and the positives, far from the
    # global one; the tuned threshold is shrunk by k / (n + k) = 20 / 22 toward the global one.
    assert 0.85 < own[2] <= 0.9 and abs(own[2] - t_global) > 0.2
    assert thresholds[2] == pytest.approx((2 * own[2] + 20 * t_global) / 22)
    assert abs(thresholds[2] - t_global) < 0.1 * abs(own[2] - t_global)

    # No positives: the global threshold, with or without the prior.
    assert thresholds[3] == t_global and own[3] == t_global


def test_logit_offsets_undo_class_weighting():
    """A weighted-BCE model's outputs are shifted by +log(w); the offset -log(w) undoes it exactly."""
    rng = np.random.default_rng(7)
    true_p = rng.uniform(0.01, 0.4, size=(20000, 3))
    references = (rng.uniform(size=true_p.shape) < true_p).astype(float)
    weights = np.array([1.0, 4.0, 9.0])
    shifted = expit(logit(true_p) + np.log(weights))
    offsets = -np.log(weights)
    assert fit_temperature(shifted, references, offsets) == pytest.approx(1.0, abs=0.05)
    recovered = apply_temperature(shifted, 1.0, offsets)
    np.testing.assert_allclose(recovered, true_p, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="offsets"):
        apply_temperature(shifted, 1.0, [0.0])


def test_model_calibration_keeps_decisions_and_moves_thresholds_onto_the_calibrated_scale():
    from genre_hf.training.calibration import fit_model_calibration

    rng = np.random.default_rng(3)
    true_p = rng.uniform(0.01, 0.5, size=(5000, 2))
    references = (rng.uniform(size=true_p.shape) < true_p).astype(float)
    offsets = -np.log([1.0, 6.0])
    shifted = expit(logit(true_p) - offsets)  # what a class-weighted model outputs
    entry = fit_model_calibration(shifted, references, ["A", "B"], prior_strength=20.0, offsets=offsets)
    plain = fit_model_calibration(shifted, references, ["A", "B"], prior_strength=20.0)
    thresholds = np.array([entry["thresholds"]["A"], entry["thresholds"]["B"]])
    calibrated = apply_temperature(shifted, entry["temperature"], offsets)
    balanced = apply_temperature(shifted, entry["temperature"])
    tuned, _ = tune_thresholds(balanced, references, prior_strength=20.0)
    np.testing.assert_array_equal(calibrated >= thresholds - 1e-6, balanced >= tuned - 1e-6)
    assert entry["thresholds"]["B"] < plain["thresholds"]["B"]  # genre B moved down with its probabilities


def test_decide_takes_the_most_likely_genres_over_their_thresholds_up_to_the_cap():
    from genre_hf.training.calibration import decide

    p = np.array([[0.9, 0.8, 0.7, 0.1], [0.2, 0.6, 0.95, 0.5]])
    thresholds = np.array([0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(decide(p, thresholds), p >= 0.5)
    np.testing.assert_array_equal(decide(p, thresholds, 2), [[True, True, False, False], [False, True, True, False]])
    np.testing.assert_array_equal(decide(p, thresholds, 1), [[True, False, False, False], [False, False, True, False]])
    # thresholds differ by genre: the second genre is likelier than the third but under its own
    # threshold, so it takes no place under a cap of 2 (the first and third are listed)
    np.testing.assert_array_equal(decide([[0.9, 0.8, 0.3, 0.2]], [0.5, 0.85, 0.25, 0.1], 2), [[True, False, True, False]])


def test_the_cardinality_fit_holds_the_mean_number_of_genres_and_keeps_the_best_micro_f1():
    """A weak model over-predicts (its thresholds are low); the fit caps it at a sensible number of
    genres a movie, and on data like its validation split its micro F1 does not drop."""
    from genre_hf.training.calibration import decide, fit_cardinality

    rng = np.random.default_rng(5)
    truth = np.zeros((4000, 12), bool)
    for row in truth:
        row[rng.choice(12, size=rng.integers(1, 4), replace=False)] = True
    noisy = np.clip(truth * 0.35 + rng.uniform(0, 0.6, truth.shape), 0, 1)
    thresholds = np.full(12, 0.3)  # loose: about 6 genres a movie
    raised, cap = fit_cardinality(noisy, truth, thresholds, ratio=1.4)
    before, after = decide(noisy, thresholds), decide(noisy, raised, cap)
    assert before.sum(axis=1).mean() > 1.4 * truth.sum(axis=1).mean() >= after.sum(axis=1).mean()

    def micro_f1(chosen):
        return 2 * (chosen & truth).sum() / (chosen.sum() + truth.sum())

    assert micro_f1(after) >= micro_f1(before) and cap is not None and cap <= 4
    raised_again, cap_again = fit_cardinality(noisy, truth, raised, ratio=10.0)  # no constraint binds: the F1 optimum
    assert micro_f1(decide(noisy, raised_again, cap_again)) >= micro_f1(after)
