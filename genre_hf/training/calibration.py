"""Post-hoc calibration and decision thresholds for the per-genre sigmoid outputs.

Applying a calibration needs numpy only (prediction imports this); fitting one also uses scipy.

Both are fitted on the validation split and shipped with the model (`thresholds.json`):
- one temperature T (temperature scaling): calibrated = sigmoid((logit(p) + offsets) / T), the
  offsets undoing the class weighting of the weighted loss exactly;
- one threshold per genre, tuned for F1 and shrunk toward a global threshold;
- how many genres a movie may get at most (`max_genres`, its most likely over their thresholds), and
  a common raise of the thresholds, chosen together for micro F1 with the movies' mean number of
  predicted genres at most `max_genres_ratio` times their true mean: a model never lists eight
  genres for a movie that has two (`fit_cardinality`).
"""

import numpy as np

_EPS = 1e-7
DEFAULT_GRID = np.round(np.arange(0.02, 0.951, 0.01), 2)


def expit(z) -> np.ndarray:
    """The logistic sigmoid, without overflow for large |z|."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def logit(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def _logits(probabilities) -> np.ndarray:
    return logit(np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS))


def _check_pair(probabilities, references):
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(references, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"probabilities {p.shape} and references {y.shape} differ in shape")
    return p, y


def fit_temperature(probabilities, references, offsets=None) -> float:
    """Fit the temperature T > 0 that minimises the mean BCE of sigmoid((logit(p) + offsets) / T).

    `offsets` (one per genre, default 0) undo a known shift of the logits first: a BCE that
    weights a genre's positives by w moves its optimal logit by +log(w), so the offset is -log(w).

    T > 1 softens an overconfident model, T < 1 sharpens an underconfident one. The search is over
    log T in [-3, 3] (T in about [0.05, 20]); probabilities are clipped to [1e-7, 1 - 1e-7].
    """
    from scipy.optimize import minimize_scalar  # only training needs scipy; keeps predict's import light
    from scipy.special import log_expit

    p, y = _check_pair(probabilities, references)
    z = (_logits(p) + _offsets(offsets, p.shape[-1])).ravel()
    y = y.ravel()

    def mean_bce(log_t):
        zt = z / np.exp(log_t)
        return -np.mean(y * log_expit(zt) + (1 - y) * log_expit(-zt))

    res = minimize_scalar(mean_bce, bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(res.x))


def apply_temperature(probabilities, temperature: float, offsets=None) -> np.ndarray:
    """Return sigmoid((logit(p) + offsets) / T) as float32, same shape as `probabilities`."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    p = np.asarray(probabilities)
    return expit((_logits(p) + _offsets(offsets, p.shape[-1])) / temperature).astype(np.float32)


def _offsets(offsets, genres: int) -> np.ndarray:
    if offsets is None:
        return np.zeros(genres)
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != (genres,):
        raise ValueError(f"expected {genres} logit offsets, got shape {offsets.shape}")
    return offsets


def _middle_argmax(scores: np.ndarray) -> np.ndarray:
    """Index of the middle maximiser along axis 0: on a plateau of equal scores (e.g. any threshold
    between two separated score clusters) this picks its centre rather than its lower edge."""
    is_best = scores >= scores.max(axis=0) - 1e-12
    rank = np.cumsum(is_best, axis=0)
    middle = (is_best.sum(axis=0) + 1) // 2
    return np.argmax(is_best & (rank == middle), axis=0)


def tune_thresholds(probabilities, references, *, grid=DEFAULT_GRID, prior_strength: float = 20.0):
    """Pick decision thresholds on a validation set. Returns (thresholds of shape (G,), global_threshold).

    The global threshold maximises micro F1 over all genres; each genre's own threshold maximises its
    F1. A genre's own optimum is noisy when it has few validation positives (with 2 positives the F1
    curve is a handful of steps and the argmax overfits them), so it is shrunk toward the global one
    by its number of positives n: t = (n * t_own + k * t_global) / (n + k), k = prior_strength.
    Genres with no positives get t_global. A genre is predicted when probability >= threshold.
    """
    p, y = _check_pair(probabilities, references)
    if p.ndim != 2:
        raise ValueError(f"expected N x G arrays, got shape {p.shape}")
    grid = np.asarray(grid, dtype=np.float64)
    y = y.astype(bool)

    # True positives, false positives, false negatives per (threshold, genre).
    tp = np.empty((grid.size, p.shape[1]))
    fp = np.empty_like(tp)
    for i, t in enumerate(grid):
        pred = p >= t
        tp[i] = (pred & y).sum(axis=0)
        fp[i] = (pred & ~y).sum(axis=0)
    n_pos = y.sum(axis=0).astype(np.float64)
    fn = n_pos - tp

    with np.errstate(invalid="ignore", divide="ignore"):
        genre_f1 = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        micro_f1 = np.nan_to_num(2 * tp.sum(1) / (2 * tp.sum(1) + fp.sum(1) + fn.sum(1)))
    t_global = float(grid[_middle_argmax(micro_f1)])
    t_own = grid[_middle_argmax(genre_f1)]

    weight = n_pos + prior_strength
    shrunk = np.divide(n_pos * t_own + prior_strength * t_global, weight, out=np.zeros_like(weight), where=weight > 0)
    thresholds = np.where(n_pos > 0, shrunk, t_global)
    return thresholds, t_global


MAX_GENRES_CHOICES = (1, 2, 3, 4, 5, 6, None)  # None: no cap
THRESHOLD_RAISES = np.round(np.arange(0.0, 3.001, 0.05), 2)  # logit units added to every threshold


def decide(probabilities, thresholds, max_genres: int | None = None) -> np.ndarray:
    """Which genres are predicted (N x G bool): those over their thresholds, at most `max_genres`
    of them, the most likely first. A genre under its own threshold takes no place: thresholds
    differ by genre, so a likelier genre may be under its threshold while a rarer one is over its
    own. `predict`, the scores and the app all decide with this."""
    p = np.asarray(probabilities)
    chosen = p >= np.asarray(thresholds)
    if max_genres is not None and max_genres < p.shape[-1]:
        over = np.where(chosen, p, -np.inf)  # ranks among the genres over their thresholds
        rank = np.argsort(np.argsort(-over, axis=-1, kind="stable"), axis=-1, kind="stable")
        chosen &= rank < max_genres
    return chosen


def fit_cardinality(calibrated, references, thresholds, ratio: float) -> tuple[np.ndarray, int | None]:
    """(thresholds raised by a common logit step, max_genres) that maximise micro F1 on these
    movies, with their mean number of predicted genres at most `ratio` times their true mean (the
    smallest change when ties)."""
    p, y = _check_pair(calibrated, references)
    y = y.astype(bool)
    limit = ratio * y.sum(axis=1).mean()
    base = logit(np.clip(np.asarray(thresholds, dtype=np.float64), _EPS, 1 - _EPS))
    best = None
    for raise_by in THRESHOLD_RAISES:
        raised = expit(base + raise_by)
        for cap in MAX_GENRES_CHOICES:
            chosen = decide(p, raised, cap)
            if chosen.sum(axis=1).mean() > limit:
                continue
            tp, fp, fn = (chosen & y).sum(), (chosen & ~y).sum(), (~chosen & y).sum()
            f1 = 2 * tp / max(2 * tp + fp + fn, 1)
            if best is None or f1 > best[0] + 1e-12:
                best = (f1, raised, cap)
    if best is None:  # even one genre a movie is too many (no movie has one): the most likely genre only
        return expit(base + THRESHOLD_RAISES[-1]), 1
    return best[1], best[2]


def fit_model_calibration(probabilities, references, genres, prior_strength: float, offsets=None,
                          max_genres_ratio: float | None = None) -> dict:
    """One model's entry of thresholds.json: a temperature, a threshold per genre, the most genres a movie gets.

    Thresholds are tuned (and rare genres shrunk toward the global one) on the temperature-scaled
    outputs *before* the logit offsets, where a class-weighted model puts every genre on a
    comparable scale, then moved onto the calibrated scale that `predict` reports: the same
    decisions, honest probabilities. With `max_genres_ratio`, they and `max_genres` are then fitted
    for a sensible number of genres a movie (`fit_cardinality`).
    """
    offsets = np.zeros(len(genres)) if offsets is None else np.asarray(offsets, dtype=np.float64)
    temperature = fit_temperature(probabilities, references, offsets)
    balanced = apply_temperature(probabilities, temperature)
    balanced_thresholds, global_threshold = tune_thresholds(balanced, references, prior_strength=prior_strength)
    thresholds = expit(logit(np.clip(balanced_thresholds, _EPS, 1 - _EPS)) + offsets / temperature)
    max_genres = None
    if max_genres_ratio is not None:
        calibrated = apply_temperature(probabilities, temperature, offsets)
        thresholds, max_genres = fit_cardinality(calibrated, references, thresholds, max_genres_ratio)
    return {
        "temperature": round(temperature, 5),
        "global_threshold": round(float(global_threshold), 4),  # before the offsets and the raise
        "logit_offsets": {genre: round(float(o), 5) for genre, o in zip(genres, offsets)},
        "thresholds": {genre: round(float(t), 5) for genre, t in zip(genres, thresholds)},
        "max_genres": max_genres,
    }


def positive_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """The class-weighted loss's weight on each genre's positives: ((1 - f) / f) ** power for genre
    frequency f in the training labels (undone here at calibration: see `logit_offsets`)."""
    frequency = np.clip(np.asarray(labels).mean(axis=0), 1e-3, 1 - 1e-3)
    return ((1 - frequency) / frequency) ** power


def logit_offsets(config, train_labels: np.ndarray) -> np.ndarray:
    """Per-genre logit corrections that undo class weighting, so probabilities stay calibrated.

    A BCE weighting a genre's positives by w is minimised at logit(p) + log(w); subtracting
    log(w) recovers the unweighted optimum exactly. Plain BCE and focal loss need none.
    """
    if config.training.loss != "weighted_bce":
        return np.zeros(config.num_genres)
    return -np.log(positive_weights(train_labels, config.training.class_weight_power))


def fit_calibration(config, train_labels, validation_labels, raw_validation: dict[str, np.ndarray]) -> dict:
    """Per model: a temperature, then per-genre thresholds on the calibrated validation outputs
    (thresholds.json's `models`). Both come from the validation split only; held-out data never
    tunes anything."""
    offsets = logit_offsets(config, train_labels)
    labels = np.asarray(validation_labels)
    return {
        name: fit_model_calibration(raw, labels, config.genres, config.calibration.threshold_prior_strength, offsets,
                                    config.calibration.max_genres_ratio)
        for name, raw in raw_validation.items()
    }


def calibrate(raw: np.ndarray, calibration: dict, genres: list[str]) -> np.ndarray:
    """Apply one model's entry of thresholds.json (temperature and optional logit offsets)."""
    offsets = calibration.get("logit_offsets")
    offsets = [offsets[genre] for genre in genres] if offsets else None
    return apply_temperature(raw, calibration["temperature"], offsets)
