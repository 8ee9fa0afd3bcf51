"""Score the three models and two baselines on any split, with the local `evaluate` metric.

For every model: BCE, micro precision/recall/F1 and macro/weighted/samples F1 at 0.5 (on the raw
outputs, as the coursework reported them) and at the tuned thresholds (on the calibrated outputs, as
`predict` uses them), mAP, calibration error before and after temperature scaling (pooled over every
movie x genre cell, and class-wise: per genre, averaged over genres), and a per-genre table.
"""

from __future__ import annotations

import numpy as np

from genre_hf.evaluation.metrics import load_metric
from genre_hf.features.featurizer import MovieFeatures, multi_hot
from genre_hf.inference.predictor import calibrate
from genre_hf.training.calibration import fit_model_calibration

F1_KEYS = ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "weighted_f1", "samples_f1")
BASELINE_NAMES = {
    "prior": "Genre prior",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "embedding_logreg": "Sentence embedding + logistic regression",
}


def model_probabilities(predictor, features: MovieFeatures) -> dict[str, np.ndarray]:
    """Raw (uncalibrated) outputs of the three models, every movie with both inputs."""
    return predictor.raw_outputs(features.inputs)


def score(raw: np.ndarray, labels: np.ndarray, calibration: dict, genres: list[str]) -> dict:
    """All figures of one model on one split."""
    metric = load_metric()
    thresholds = [calibration["thresholds"][genre] for genre in genres]
    calibrated = calibrate(raw, calibration, genres)
    at_half = metric.compute(predictions=raw, references=labels, thresholds=0.5)
    tuned = metric.compute(predictions=calibrated, references=labels, thresholds=thresholds, genres=genres, per_genre=True)
    return {
        **at_half,
        "bce_calibrated": tuned["bce"],
        "ece_calibrated": tuned["ece"],
        "classwise_ece_calibrated": tuned["classwise_ece"],
        "temperature": calibration["temperature"],
        "tuned": {key: tuned[key] for key in F1_KEYS},
        "per_genre": tuned["per_genre"],
    }


class Baselines:
    """What a practitioner tries first: the genre prior, TF-IDF + logistic regression, and (given a
    sentence encoder) logistic regression on its normalised sentence embeddings.

    Fitted on the model's training split, calibrated and thresholded on its validation split by
    the same rules as the models, so the comparison is like for like.
    """

    def __init__(self, genres: list[str], prior_strength: float, embed=None):
        self.genres, self.prior_strength, self.embed = genres, prior_strength, embed

    def fit(self, train, validation) -> "Baselines":
        from sklearn.feature_extraction.text import TfidfVectorizer

        labels = multi_hot(train["genres"], self.genres)
        self.prior = labels.mean(axis=0)
        self.columns = np.flatnonzero(labels.sum(axis=0) > 0)  # a genre without positives has nothing to learn
        self.vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
        self.logreg = {"tfidf_logreg": self._logreg(self.vectorizer.fit_transform(train["overview"]), labels, C=4.0)}
        if self.embed is not None:
            self.logreg["embedding_logreg"] = self._logreg(self._sentences(train["overview"]), labels, C=1.0)
        validation_labels = multi_hot(validation["genres"], self.genres)
        self.calibration = {
            name: fit_model_calibration(raw, validation_labels, self.genres, self.prior_strength)
            for name, raw in self.probabilities(validation["overview"]).items()
        }
        return self

    def _logreg(self, features, labels: np.ndarray, C: float):
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(LogisticRegression(C=C, max_iter=1000)).fit(features, labels[:, self.columns])

    def _sentences(self, overviews) -> np.ndarray:
        embeddings = self.embed(list(overviews))
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)

    def probabilities(self, overviews: list[str]) -> dict[str, np.ndarray]:
        n = len(overviews)
        result = {"prior": np.tile(self.prior, (n, 1)).astype(np.float32)}
        inputs = {"tfidf_logreg": lambda: self.vectorizer.transform(overviews), "embedding_logreg": lambda: self._sentences(overviews)}
        for name, model in self.logreg.items():
            result[name] = np.zeros((n, len(self.genres)), np.float32)
            if n:
                result[name][:, self.columns] = model.predict_proba(inputs[name]())
        return result


def benchmark(predictor, features: MovieFeatures, overviews: list[str], baselines: Baselines | None = None, split: str = "all"):
    """Scores of the models (and baselines) on one split, with their raw and calibrated probabilities
    (for the plots)."""
    genres = predictor.genres
    raw = model_probabilities(predictor, features)
    calibrations = dict(predictor.calibration)
    if baselines is not None:
        raw.update(baselines.probabilities(overviews))
        calibrations.update(baselines.calibration)
    scores = {name: score(probabilities, features.labels, calibrations[name], genres) for name, probabilities in raw.items()}
    report = {
        "split": split,
        "movies": len(features),
        "genres": genres,
        "titles": {**predictor.titles, **{name: BASELINE_NAMES[name] for name in scores if name in BASELINE_NAMES}},
        "support": {genre: int(n) for genre, n in zip(genres, features.labels.sum(axis=0))},
        "models": {name: scores[name] for name in predictor.models},
        "baselines": {name: scores[name] for name in scores if name not in predictor.models},
    }
    calibrated = {name: calibrate(p, calibrations[name], genres) for name, p in raw.items()}
    return report, raw, calibrated


def to_markdown(report: dict) -> str:
    """The benchmark as Markdown tables: summary, calibration, per-genre F1 and AP."""
    rows = {**report["models"], **report.get("baselines", {})}
    titles = report["titles"]
    lines = [
        f"Scored on {report['movies']:,} movies ({report['split']} split).",
        "",
        "| model | BCE | P (0.5) | R (0.5) | micro F1 (0.5) | micro F1 (tuned) | macro F1 (tuned) | weighted F1 (tuned) | "
        "samples F1 (tuned) | mAP | ECE | ECE (calibrated) | class-wise ECE | class-wise ECE (calibrated) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        t = r["tuned"]
        lines.append(
            f"| {titles[name]} | {r['bce']:.4f} | {r['micro_precision']:.3f} | {r['micro_recall']:.3f} | "
            f"{r['micro_f1']:.3f} | {t['micro_f1']:.3f} | {t['macro_f1']:.3f} | {t['weighted_f1']:.3f} | "
            f"{t['samples_f1']:.3f} | {r['map']:.3f} | {r['ece']:.4f} | {r['ece_calibrated']:.4f} | "
            f"{_figure(r.get('classwise_ece'))} | {_figure(r.get('classwise_ece_calibrated'))} |"
        )
    names = list(rows)
    lines += [
        "",
        "ECE is pooled over every movie x genre cell, where easy negatives dominate; class-wise ECE is each "
        "genre's own, averaged over the genres.",
        "",
        "Per genre (tuned thresholds): F1 / AP",
        "",
        "| genre | support | " + " | ".join(titles[n] for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for index, genre in enumerate(report["genres"]):
        cells = []
        for name in names:
            entry = rows[name]["per_genre"][index]
            ap = "n/a" if entry["ap"] is None else f"{entry['ap']:.2f}"
            cells.append(f"{entry['f1']:.2f} / {ap}")
        lines.append(f"| {genre} | {report['support'][genre]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(value, digits: int = 4) -> str:
    """A figure, or n/a for one a report of an older genre_hf did not record."""
    return "n/a" if value is None else f"{value:.{digits}f}"
