"""Prediction with the three models: inputs checked, features made, calibrated probabilities out.

No Hub code here (see hub.py) and no heavy import at module level: TensorFlow and Keras load when
a predictor is built, so `import genre_hf` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genre_hf.config import LEGACY_MODEL_NAMES, MODEL_INPUTS, MODEL_NAMES, GenreConfig
from genre_hf.data.posters import poster_to_array
from genre_hf.features.featurizer import Featurizer, Tokenizer
from genre_hf.hub import folder as model_folder
from genre_hf.inference.inputs import check_inputs
from genre_hf.training.calibration import apply_temperature

FORWARD_CHUNK = 256  # movies per forward pass: bounds memory however large a batch is


def default_calibration(config: GenreConfig) -> dict:
    """Temperature 1 and threshold 0.5 everywhere: what an untuned model means."""
    return {
        name: {"temperature": 1.0, "global_threshold": 0.5, "thresholds": {g: 0.5 for g in config.genres}}
        for name in MODEL_NAMES
    }


class ModelResults(dict):
    """`{model: answer}` for one movie. The format-1 names still work: `result["cnn"]` is
    `result["poster"]` and `result["lstm"]` is `result["overview"]`."""

    def __missing__(self, key):
        if key in LEGACY_MODEL_NAMES and LEGACY_MODEL_NAMES[key] in self:
            return self[LEGACY_MODEL_NAMES[key]]
        raise KeyError(key)

    def __contains__(self, key):
        return super().__contains__(LEGACY_MODEL_NAMES.get(key, key))

    def get(self, key, default=None):
        return self[key] if key in self else default


class GenrePredictor:
    """The three models with everything needed to use them: encoders, vocabulary, genres, calibration."""

    def __init__(self, config: GenreConfig, vocabulary: list[str], calibration: dict | None = None, network=None):
        """`network`: (the whole Keras model, {name: view}) from `models.build_models`, when trained here."""
        from genre_hf.modeling.encoders import make_encoders

        self.config = config
        self.tokenizer = Tokenizer(config, vocabulary)
        self.encoders = make_encoders(config, self.tokenizer)
        self.featurizer = Featurizer(config, self.encoders, self.tokenizer)
        self.calibration = calibration or default_calibration(config)
        if network is None:
            from genre_hf.modeling.models import build_models

            network = build_models(config, self.encoders, len(self.tokenizer.vocabulary))
        self.whole, self.models = network
        self._compiled = None  # the whole model's traced forward pass, traced on the first call

    @property
    def genres(self) -> list[str]:
        return list(self.config.genres)

    @property
    def vocabulary(self) -> list[str]:
        return self.tokenizer.vocabulary

    @property
    def titles(self) -> dict[str, str]:
        """How reports and the app name each model: "Poster CNN", "Overview LSTM", "Fusion"."""
        return {**{name: encoder.title for name, encoder in self.encoders.items()}, "fusion": "Fusion"}

    # ---- named input arrays in, probabilities out ----------------------------------------------

    def raw_outputs(self, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Uncalibrated sigmoid outputs of the three models, one forward pass per chunk of movies
        (each encoder's trunk runs once for all three).

        `inputs` holds every named model input (a missing modality's blanked: see
        `Featurizer.blank_inputs`); `present` (N x 2 of 1/0) says which of poster and overview each
        movie has, for the fusion model; by default both.
        """
        from genre_hf.modeling.models import model_arrays

        arrays = model_arrays(self.whole, inputs, present)
        size = len(next(iter(arrays.values())))
        forward = self._forward()
        chunks = [
            forward({key: value[start : start + FORWARD_CHUNK] for key, value in arrays.items()})
            for start in range(0, size, FORWARD_CHUNK)
        ]
        if not chunks:
            return {name: np.zeros((0, self.config.num_genres), np.float32) for name in MODEL_NAMES}
        return {name: np.concatenate([np.asarray(chunk[name]) for chunk in chunks]) for name in MODEL_NAMES}

    def raw_probabilities(self, name: str, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> np.ndarray:
        """One model's uncalibrated outputs (see `raw_outputs`)."""
        return self.raw_outputs(self._complete(inputs), present)[name]

    def _complete(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Blank inputs for a modality `inputs` lacks (for a single model's call, it is not read)."""
        count = len(next(iter(inputs.values())))
        specs = self.featurizer.input_specs()
        missing = [modality for modality, encoder in self.encoders.items() if encoder.input_name not in inputs]
        blanks = {}
        for modality in missing:
            blanks.update(self.featurizer.blank_inputs(modality, count))
        return {**blanks, **{name: value for name, value in inputs.items() if name in specs}}

    def _forward(self):
        """The traced forward pass, from the first call on: an eager and a traced pass differ in the
        8th digit (oneDNN fuses ops differently in a graph), so one path for every call gives the
        same input the same answer whichever call it is."""
        if self._compiled is None:
            self._compile()
        return self._compiled

    def _compile(self) -> None:
        import tensorflow as tf

        from genre_hf.modeling.models import MODALITIES_INPUT, input_names

        specs = {**self.featurizer.input_specs(), MODALITIES_INPUT: ((2,), "float32")}
        signature = {key: tf.TensorSpec((None, *specs[key][0]), specs[key][1]) for key in input_names(self.whole)}
        whole = self.whole
        self._compiled = tf.function(lambda batch: whole(batch, training=False), input_signature=[signature])

    def compile_for_serving(self) -> None:
        """Trace the models now instead of on the first request: for a server's start-up."""
        self.raw_outputs({**self.featurizer.blank_inputs("poster", 1), **self.featurizer.blank_inputs("overview", 1)})

    def calibrated(self, name: str, raw: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities, class-weighting offsets undone (see training)."""
        return calibrate(raw, self.calibration[name], self.config.genres)

    def thresholds(self, name: str) -> np.ndarray:
        per_genre = self.calibration[name]["thresholds"]
        return np.array([per_genre[genre] for genre in self.config.genres], dtype=np.float32)

    def probabilities(self, posters: np.ndarray | None, overviews: list[str] | None) -> dict[str, np.ndarray]:
        """Calibrated probabilities of every model the given inputs allow, for a batch with the same
        inputs present in every movie. The fusion model runs on either input alone too (the other blanked)."""
        count = len(posters) if posters is not None else len(overviews)
        given = {"poster": posters is not None, "overview": overviews is not None}
        inputs = {}
        inputs.update(self.featurizer.poster_inputs(posters) if given["poster"] else self.featurizer.blank_inputs("poster", count))
        inputs.update(self.featurizer.overview_inputs(overviews) if given["overview"] else self.featurizer.blank_inputs("overview", count))
        present = np.tile(np.array([given["poster"], given["overview"]], np.float32), (count, 1))
        raw = self.raw_outputs(inputs, present)
        names = [name for name in MODEL_NAMES if name == "fusion" or all(given[need] for need in MODEL_INPUTS[name])]
        return {name: self.calibrated(name, raw[name]) for name in names}

    # ---- the user-facing call ----------------------------------------------------------------

    def predict(self, poster=None, overview: str | list[str] | None = None):
        """Genres for one movie, or for a batch.

        One movie: `poster` is a path, bytes, a PIL image or an H x W (x C) array; `overview` a
        string. A batch: a list of posters and/or a list of overviews of the same length (or an
        N x H x W x C array of posters). A single poster with a list of overviews (or the reverse)
        is an error, never broadcast.

        Returns `{model: {"probabilities": {genre: p}, "genres": [...], "notes": [...]}}` for each
        model the inputs allow (a poster: poster and fusion; an overview: overview and fusion; both:
        all three), or a list of those for a batch. Probabilities are calibrated, most likely first;
        `genres` are those over the model's tuned threshold; `notes` say what to know about the
        answer (the overview had no known word, was cut short, a modality was missing).
        """
        posters, overviews, batched = check_inputs(poster, overview)
        poster_arrays = None
        if posters is not None:
            poster_arrays = np.stack([self._poster_array(item, i if batched else None) for i, item in enumerate(posters)])
        probabilities = self.probabilities(poster_arrays, overviews)
        count = len(posters if posters is not None else overviews)
        text_notes = self.encoders["overview"].notes(overviews) if overviews is not None else [[]] * count
        missing = "no poster" if posters is None else "no overview" if overviews is None else None
        results = []
        for row in range(count):
            result = ModelResults()
            for name, values in probabilities.items():
                notes = list(text_notes[row]) if "overview" in MODEL_INPUTS[name] and overviews is not None else []
                if name == "fusion" and missing:
                    notes.append(f"The fusion model read the {'overview' if posters is None else 'poster'} alone ({missing}).")
                result[name] = self._describe(values[row], self.thresholds(name), notes)
            results.append(result)
        return results if batched else results[0]

    def explain(self, poster=None, overview: str | None = None, genre: str | None = None) -> dict:
        """Why each model says what it says about one movie, for `genre` (default: the fusion
        model's top genre): Grad-CAM heat maps on the poster, word scores by occlusion, and what
        each input adds to the fusion model. See `genre_hf.inference.explain` for the returned data."""
        from genre_hf.inference.explain import explainer

        return explainer(self).explain(poster, overview, genre)

    def _poster_array(self, poster, index: int | None) -> np.ndarray:
        try:
            return poster_to_array(poster, self.featurizer.image_size)
        except ValueError as error:
            where = f"poster {index}: " if index is not None else ""
            raise ValueError(f"{where}{error}") from None

    def _describe(self, probabilities: np.ndarray, thresholds: np.ndarray, notes: list[str]) -> dict:
        order = np.argsort(-probabilities, kind="stable")
        genres = self.config.genres
        return {
            "probabilities": {genres[i]: float(probabilities[i]) for i in order},
            "genres": [genres[i] for i in order if probabilities[i] >= thresholds[i]],
            "notes": notes,
        }

    # ---- the folder format (see folder.py) --------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the model files into `folder` (an existing or new folder; see `folder.writing`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder / model_folder.CONFIG_FILE)
        self.tokenizer.save(folder / model_folder.VOCABULARY_FILE)
        model_folder.write_calibration(folder / model_folder.THRESHOLDS_FILE, self.config, self.calibration)
        model_folder.save_weights(self.whole, folder / model_folder.WEIGHTS_FILE, self.config)
        return folder

    @classmethod
    def load(cls, folder: str | Path, **kwargs):
        """Rebuild from a folder, checking every file; errors name the file and what is wrong in it."""
        folder = Path(folder)
        if not folder.is_dir():
            raise model_folder.FolderError(f"no model folder at {folder}")
        model_folder.check_complete(folder)
        config = model_folder.read_config(folder)
        vocabulary = model_folder.read_vocabulary(folder, config)
        calibration = model_folder.read_calibration(folder, config)
        predictor = cls(config, vocabulary, calibration, **kwargs)
        model_folder.load_weights(predictor.whole, folder / model_folder.WEIGHTS_FILE, config)
        return predictor


def calibrate(raw: np.ndarray, calibration: dict, genres: list[str]) -> np.ndarray:
    """Apply one model's entry of thresholds.json (temperature and optional logit offsets)."""
    offsets = calibration.get("logit_offsets")
    offsets = [offsets[genre] for genre in genres] if offsets else None
    return apply_temperature(raw, calibration["temperature"], offsets)
