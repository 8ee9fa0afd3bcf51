"""Multi-label movie-genre metric: ranking, thresholded F1 scores, BCE and calibration in one call.

This file is an `evaluate` module (evaluate copies it into its modules cache), so it imports only
installed packages, one import per line (evaluate's import scanner misreads `import a, b`): numpy,
scikit-learn, datasets, evaluate, and genre_hf for the one rule that decides which genres are
predicted (`calibration.decide`, the rule `predict` uses).
"""

from typing import NamedTuple

import datasets
import evaluate
import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.metrics import precision_recall_fscore_support

from genre_hf.training.calibration import decide

_EPS = 1e-7

_DESCRIPTION = """\
Metrics for multi-label genre classification with one sigmoid per genre. Predictions are
probabilities (N movies x G genres), references are 0/1 (N x G). Thresholded scores (precision,
recall, F1 averaged micro/macro/weighted/samples, cardinalities) use `probability >= threshold`
with a scalar threshold or one per genre; `bce`, `map` (macro average precision over the genres with
at least one positive) and `ece` (expected calibration error over all N*G binary predictions) are
threshold-free.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: N x G probabilities in [0, 1].
    references: N x G 0/1 genre labels.
    thresholds: a scalar or a length-G sequence; a genre is predicted when probability >= threshold.
    max_genres: at most this many genres a movie, its most likely ones over their thresholds (None: no cap).
    genres: the G genre names (required for `per_genre=True`).
    n_bins: number of equal-width bins on [0, 1] for the ECE.
    per_genre: also return `per_genre`, a list of
        {genre, support, precision, recall, f1, ap, ece, threshold} dicts (ap is None when support is 0).
Returns:
    bce, micro_precision, micro_recall, micro_f1, macro_f1, weighted_f1, samples_f1, map, ece,
    classwise_ece, label_cardinality, predicted_cardinality (Python floats), and `per_genre` when asked.
    Precision/recall/F1 use zero_division=0.
"""


class ReliabilityCurve(NamedTuple):
    """Per-bin statistics; `mean_confidence` and `observed_frequency` are NaN in empty bins."""

    bin_centers: np.ndarray
    mean_confidence: np.ndarray
    observed_frequency: np.ndarray
    counts: np.ndarray


def reliability_curve(probabilities, references, n_bins=15):
    """Bin every (movie, genre) probability into `n_bins` equal-width bins on [0, 1].

    Returns a ReliabilityCurve(bin_centers, mean_confidence, observed_frequency, counts), each of
    length n_bins; a probability of exactly 1.0 falls in the last bin.
    """
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(references, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"probabilities and references differ in size: {p.size} vs {y.size}")
    bins = np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=p, minlength=n_bins) / counts
        observed_frequency = np.bincount(bins, weights=y, minlength=n_bins) / counts
    bin_centers = (np.arange(n_bins) + 0.5) / n_bins
    return ReliabilityCurve(bin_centers, mean_confidence, observed_frequency, counts)


def expected_calibration_error(probabilities, references, n_bins=15):
    """Sum over bins of (bin count / total) * |observed frequency - mean confidence|."""
    curve = reliability_curve(probabilities, references, n_bins)
    filled = curve.counts > 0
    gaps = np.abs(curve.observed_frequency[filled] - curve.mean_confidence[filled])
    return float(np.sum(curve.counts[filled] / curve.counts.sum() * gaps))


def classwise_calibration_errors(probabilities, references, n_bins=15):
    """The ECE of each column (genre) on its own: a list of G floats."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(references, dtype=np.float64)
    return [expected_calibration_error(p[:, g], y[:, g], n_bins) for g in range(p.shape[1])]


def _prf(y_true, y_pred, average):
    return precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelGenres(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
        )

    def _compute(self, predictions, references, thresholds=0.5, genres=None, n_bins=15, per_genre=False, max_genres=None):
        p = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(references, dtype=np.int64)
        if p.ndim != 2 or p.shape != y.shape:
            raise ValueError(f"expected two N x G arrays of the same shape, got {p.shape} and {y.shape}")
        n_genres = p.shape[1]
        t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_genres,))
        if genres is not None and len(genres) != n_genres:
            raise ValueError(f"{len(genres)} genre names for {n_genres} columns")
        if per_genre and genres is None:
            raise ValueError("per_genre=True needs the genre names in `genres`")
        y_pred = decide(p, t, max_genres).astype(np.int64)  # the rule predict uses

        pc = np.clip(p, _EPS, 1 - _EPS)
        bce = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
        micro_p, micro_r, micro_f1, _ = _prf(y, y_pred, "micro")
        support = y.sum(axis=0)
        ap = [average_precision_score(y[:, g], p[:, g]) if support[g] > 0 else None for g in range(n_genres)]
        ap_defined = [a for a in ap if a is not None]
        genre_ece = classwise_calibration_errors(p, y, n_bins)

        result = {
            "bce": float(bce),
            "micro_precision": float(micro_p),
            "micro_recall": float(micro_r),
            "micro_f1": float(micro_f1),
            "macro_f1": float(_prf(y, y_pred, "macro")[2]),
            "weighted_f1": float(_prf(y, y_pred, "weighted")[2]),
            "samples_f1": float(_prf(y, y_pred, "samples")[2]),
            "map": float(np.mean(ap_defined)) if ap_defined else float("nan"),
            "ece": expected_calibration_error(p, y, n_bins),
            "classwise_ece": float(np.mean(genre_ece)),
            "label_cardinality": float(y.sum(axis=1).mean()),
            "predicted_cardinality": float(y_pred.sum(axis=1).mean()),
        }
        if per_genre:
            prec, rec, f1, _ = _prf(y, y_pred, None)
            result["per_genre"] = [
                {
                    "genre": str(genres[g]),
                    "support": int(support[g]),
                    "precision": float(prec[g]),
                    "recall": float(rec[g]),
                    "f1": float(f1[g]),
                    "ap": None if ap[g] is None else float(ap[g]),
                    "ece": float(genre_ece[g]),
                    "threshold": float(t[g]),
                }
                for g in range(n_genres)
            ]
        return result
