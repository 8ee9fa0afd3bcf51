"""Prediction with the three trained models, and their folder format (no Hub code here).

A model folder holds plain, safe files: `config.json`, one weights-only `.weights.h5` per model,
`vocabulary.txt` and `thresholds.json`. Loading rebuilds each architecture from the config in
code and loads weights only, so nothing in a folder is ever executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genre_hf import features
from genre_hf.calibration import apply_temperature
from genre_hf.config import FORMAT_VERSION, MODEL_NAMES, GenreConfig
from genre_hf.models import build_models, model_inputs
from genre_hf.posters import poster_to_array

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
THRESHOLDS_FILE = "thresholds.json"
WEIGHTS_FILES = {name: f"{name}.weights.h5" for name in MODEL_NAMES}
MODEL_FILES = (CONFIG_FILE, VOCABULARY_FILE, THRESHOLDS_FILE, *WEIGHTS_FILES.values())
MODEL_INPUTS = {"cnn": ("poster",), "lstm": ("overview",), "fusion": ("poster", "overview")}
FORWARD_CHUNK = 512


def default_calibration(config: GenreConfig) -> dict:
    """Temperature 1 and threshold 0.5 everywhere: what an untuned model means."""
    return {
        name: {"temperature": 1.0, "global_threshold": 0.5, "thresholds": {g: 0.5 for g in config.genres}}
        for name in MODEL_NAMES
    }


class GenrePredictor:
    """The three models with everything needed to use them: vocabulary, genres, calibration."""

    def __init__(self, config: GenreConfig, vocabulary: list[str], calibration: dict | None = None, models=None):
        self.config = config
        self.vocabulary = list(vocabulary)
        self.calibration = calibration or default_calibration(config)
        self.models = models or build_models(config, len(self.vocabulary))
        self.vectorizer = features.make_vectorizer(config, self.vocabulary)
        self._compiled = {}  # model name -> traced forward pass, once `compile_for_serving` ran

    @property
    def genres(self) -> list[str]:
        return list(self.config.genres)

    # ---- batch arrays in, probabilities out -------------------------------------------------

    def raw_probabilities(self, name: str, posters: np.ndarray | None, tokens: np.ndarray | None) -> np.ndarray:
        """Uncalibrated sigmoid outputs of one model, one forward pass per chunk of 512 movies."""
        inputs = model_inputs(name, posters, tokens)
        size = len(posters) if posters is not None else len(tokens)
        forward = self._compiled.get(name) or (lambda batch, model=self.models[name]: model(batch, training=False))
        chunks = [np.asarray(forward(_slice(inputs, start, start + FORWARD_CHUNK))) for start in range(0, size, FORWARD_CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.config.num_genres), np.float32)

    def compile_for_serving(self) -> None:
        """Trace each model's forward pass once, any batch size, so later calls skip eager overhead.

        Worth it for a server (the LSTM goes from ~100 ms to a few ms a call); a one-off prediction
        is faster without it, since tracing costs about a second.
        """
        import tensorflow as tf

        size = self.config.image_size
        posters = tf.TensorSpec((None, size, size, 3), tf.uint8)
        tokens = tf.TensorSpec((None, self.config.sequence_length), tf.int32)
        for name, model in self.models.items():
            spec = model_inputs(name, posters, tokens)
            self._compiled[name] = tf.function(lambda batch, model=model: model(batch, training=False), input_signature=[spec])
        dummy_posters = np.zeros((1, size, size, 3), np.uint8)
        dummy_tokens = np.zeros((1, self.config.sequence_length), np.int32)
        for name in self.models:
            self.raw_probabilities(name, dummy_posters, dummy_tokens)

    def calibrated(self, name: str, raw: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities, class-weighting offsets undone (see training)."""
        return calibrate(raw, self.calibration[name], self.config.genres)

    def thresholds(self, name: str) -> np.ndarray:
        per_genre = self.calibration[name]["thresholds"]
        return np.array([per_genre[genre] for genre in self.config.genres], dtype=np.float32)

    def tokenize(self, overviews: list[str]) -> np.ndarray:
        return features.vectorize(self.vectorizer, overviews)

    # ---- the user-facing call ----------------------------------------------------------------

    def predict(self, poster=None, overview: str | list[str] | None = None):
        """Genres for one movie, or for a batch given as lists of equal length.

        One movie gives `{model: {"probabilities": {genre: p}, "genres": [...]}}` for each model
        its inputs allow (poster: cnn; overview: lstm; both: cnn, lstm, fusion); a batch gives a
        list of those, computed in one forward pass per model.
        """
        batched = isinstance(poster, (list, tuple)) or isinstance(overview, (list, tuple))
        posters, overviews = self._check_inputs(poster, overview, batched)
        poster_array = None
        if posters is not None:
            poster_array = np.stack(
                [self._poster_array(item, i if batched else None) for i, item in enumerate(posters)]
            )
        tokens = self.tokenize(overviews) if overviews is not None else None
        names = [n for n, needs in MODEL_INPUTS.items() if all(
            {"poster": poster_array, "overview": tokens}[need] is not None for need in needs)]
        results = [dict() for _ in range(len(posters if posters is not None else overviews))]
        for name in names:
            probabilities = self.calibrated(name, self.raw_probabilities(name, poster_array, tokens))
            thresholds = self.thresholds(name)
            for row, result in zip(probabilities, results):
                result[name] = self._describe(row, thresholds)
        return results if batched else results[0]

    def _check_inputs(self, poster, overview, batched: bool):
        if batched:
            posters = list(poster) if poster is not None else None
            overviews = list(overview) if overview is not None else None
            if posters is not None and overviews is not None and len(posters) != len(overviews):
                raise ValueError(f"got {len(posters)} posters but {len(overviews)} overviews; give lists of equal length")
            if posters is None and overviews is None or not (posters or overviews):
                raise ValueError("give a poster and/or an overview for each movie; the batch is empty")
            for i, text in enumerate(overviews or []):
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"overview {i} is empty or not a string")
            return posters, overviews
        if overview is not None and not isinstance(overview, str):
            raise ValueError(f"an overview must be a string, not {type(overview).__name__}")
        overview = overview if overview and overview.strip() else None
        if poster is None and overview is None:
            raise ValueError("give a poster, a non-empty overview, or both")
        return ([poster] if poster is not None else None), ([overview] if overview is not None else None)

    def _poster_array(self, poster, index: int | None) -> np.ndarray:
        try:
            return poster_to_array(poster, self.config.image_size)
        except ValueError as error:
            where = f"poster {index}: " if index is not None else ""
            raise ValueError(f"{where}{error}") from None

    def _describe(self, probabilities: np.ndarray, thresholds: np.ndarray) -> dict:
        order = np.argsort(-probabilities, kind="stable")
        genres = self.config.genres
        return {
            "probabilities": {genres[i]: float(probabilities[i]) for i in order},
            "genres": [genres[i] for i in order if probabilities[i] >= thresholds[i]],
        }

    # ---- the folder format ---------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder / CONFIG_FILE)
        (folder / VOCABULARY_FILE).write_text("\n".join(self.vocabulary) + "\n", encoding="utf-8")
        thresholds = {"format_version": FORMAT_VERSION, "genres": self.genres, "models": self.calibration}
        (folder / THRESHOLDS_FILE).write_text(json.dumps(thresholds, indent=2) + "\n")
        for name, filename in WEIGHTS_FILES.items():
            self.models[name].save_weights(folder / filename)
        return folder

    @classmethod
    def load(cls, folder: str | Path, **kwargs):
        """Rebuild from a folder; a missing file or an unknown format version is a clear error."""
        folder = Path(folder)
        missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{folder} is not a genre_hf model folder: missing {', '.join(missing)}")
        config = GenreConfig.load(folder / CONFIG_FILE)
        vocabulary = features.load_vocabulary(folder / VOCABULARY_FILE)
        thresholds = json.loads((folder / THRESHOLDS_FILE).read_text())
        predictor = cls(config, vocabulary, thresholds["models"], **kwargs)
        for name, filename in WEIGHTS_FILES.items():
            predictor.models[name].load_weights(folder / filename)
        return predictor


def calibrate(raw: np.ndarray, calibration: dict, genres: list[str]) -> np.ndarray:
    """Apply one model's entry of thresholds.json (temperature and optional logit offsets)."""
    offsets = calibration.get("logit_offsets")
    offsets = [offsets[genre] for genre in genres] if offsets else None
    return apply_temperature(raw, calibration["temperature"], offsets)


def _slice(inputs, start: int, stop: int):
    if isinstance(inputs, dict):
        return {key: value[start:stop] for key, value in inputs.items()}
    return inputs[start:stop]
