"""What a practitioner tries first, scored beside the models: the genre prior, TF-IDF + logistic
regression, and (given a sentence encoder) logistic regression on its sentence embeddings."""

from __future__ import annotations

import numpy as np

from genre_hf.features.featurizer import multi_hot
from genre_hf.training.calibration import fit_model_calibration

BASELINE_NAMES = {
    "prior": "Genre prior",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "embedding_logreg": "Sentence embedding + logistic regression",
}


class Baselines:
    """What a practitioner tries first: the genre prior, TF-IDF + logistic regression, and (given a
    sentence encoder) logistic regression on its normalised sentence embeddings.

    Fitted on the model's training split, calibrated and thresholded on its validation split by
    the same rules as the models, so the comparison is like for like.
    """

    def __init__(self, genres: list[str], prior_strength: float, embed=None, max_genres_ratio: float | None = None):
        self.genres, self.prior_strength, self.embed, self.max_genres_ratio = genres, prior_strength, embed, max_genres_ratio

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
            name: fit_model_calibration(raw, validation_labels, self.genres, self.prior_strength, max_genres_ratio=self.max_genres_ratio)
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
