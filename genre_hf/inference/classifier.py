"""`GenreClassifier`: the three models behind one `predict`, with `from_pretrained` /
`save_pretrained` / `push_to_hub`.

The Hub methods are plain ones over `hub/` (as timm's are over its `_hub.py`), not a
`huggingface_hub.ModelHubMixin`, whose public methods every one would have to override: from a
repo id only the files a model needs are downloaded into the usual Hub cache (a restarted Space
finds them there), then the architectures are rebuilt from the config and weights alone are loaded:
nothing in a repo is executed. Saving builds the whole folder in a staging one first, and a push
uploads only a folder that saved completely.

A folder keeps the three models converted for LiteRT too (`model.tflite`), and each frozen encoder's
converted pass: a loaded classifier answers on LiteRT and imports neither TensorFlow nor Keras; the
Keras models are built (and their weights loaded) only when something needs them, such as Grad-CAM
or saving. No heavy import at module level, so `import genre_hf` stays fast.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from genre_hf.config import GenreConfig
from genre_hf.data.posters import poster_to_array
from genre_hf.features.featurizer import Featurizer
from genre_hf.hub import folder as model_folder
from genre_hf.hub import transfer
from genre_hf.hub.card import render_card
from genre_hf.inference.inputs import check_inputs
from genre_hf.modeling import MODEL_INPUTS, MODEL_NAMES
from genre_hf.modeling.tokenizer import Tokenizer
from genre_hf.training.calibration import calibrate, decide

# Batches of at least this many movies decode their posters beside the overview encoder (`_features`):
# measured at 2, 8, 64 and 542 movies, the thread gains from 64 on and loses 0.5 ms up to 8, in both families.
THREADED_POSTERS = 32


def default_calibration(config: GenreConfig) -> dict:
    """Temperature 1 and threshold 0.5 everywhere: what an untuned model means."""
    return {
        name: {"temperature": 1.0, "global_threshold": 0.5, "thresholds": {g: 0.5 for g in config.genres}}
        for name in MODEL_NAMES
    }


class GenreClassifier:
    """Poster model, overview model and fusion model behind one `predict`.

    >>> clf = GenreClassifier.from_pretrained("user/imdb-genres")  # or a local folder
    >>> clf.predict(poster="poster.jpg", overview="A retired hitman seeks revenge.")
    """

    def __init__(self, config: GenreConfig, vocabulary: list[str], calibration: dict | None = None, network=None,
                 files_dir: str | Path | None = None, lite=None, weights: Path | None = None):
        """`network`: the built models (`models.GenreNetwork`) when trained here; otherwise they are
        built from the config when first needed, with `weights` (a weights file) loaded into them.
        `lite`: the three models on LiteRT (`litert.LiteNetwork`), which then answer. `files_dir`: where
        this model's training reports and plots live (copied along when it is saved)."""
        self.config = config
        if network is not None:
            self.tokenizer = next(encoder.tokenizer for encoder in network.encoders.values())
            self.encoders = network.encoders
        else:
            self.tokenizer = Tokenizer(config.tokens, vocabulary)
            self.encoders = config.encoders(self.tokenizer)
        self._network, self._weights, self.lite = network, weights, lite
        self.featurizer = Featurizer(config, self.encoders, self.tokenizer)
        self.calibration = calibration or default_calibration(config)
        self.files_dir = Path(files_dir) if files_dir else None

    @property
    def network(self):
        """The Keras models (`models.GenreNetwork`), built on first use: training, Grad-CAM, saving."""
        if self._network is None:
            from genre_hf.modeling.models import build_models

            network = build_models(self.config.num_genres, self.encoders, self.config.fusion, len(self.tokenizer.vocabulary),
                                   self.config.training.seed)
            if self._weights is not None:
                model_folder.load_weights(network.whole, self._weights)
            self._network = network
        return self._network

    @classmethod
    def from_run(cls, run, files_dir: str | Path | None = None) -> "GenreClassifier":
        """The classifier of a finished training run (`trainer.TrainingRun`): its models and calibration."""
        return cls(run.config, run.prepared.tokenizer.vocabulary, run.calibration, network=run.network, files_dir=files_dir)

    @property
    def genres(self) -> list[str]:
        return list(self.config.genres)

    @property
    def vocabulary(self) -> list[str]:
        return self.tokenizer.vocabulary

    @property
    def whole(self):
        return self.network.whole

    @property
    def models(self) -> dict:
        return self.network.models

    @property
    def titles(self) -> dict[str, str]:
        """How reports and the app name each model: "Poster CNN", "Overview LSTM", "Fusion"."""
        from genre_hf.modeling.encoders import model_titles

        return model_titles(self.encoders)

    def unavailable_inputs(self) -> dict[str, str]:
        """{modality: why its encoder cannot run here}: e.g. a pretrained text encoder neither in the Hub
        cache nor reachable. Empty when every model can answer; otherwise the models that read only the
        other input still do (`predict(poster=...)` needs no text encoder)."""
        reasons = {modality: encoder.unavailable() for modality, encoder in self.encoders.items()}
        return {modality: reason for modality, reason in reasons.items() if reason}

    # ---- named input arrays in, probabilities out ----------------------------------------------

    def raw_outputs(self, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Uncalibrated sigmoid outputs of the three models (see `GenreNetwork.raw_outputs`), on LiteRT
        when the folder had them converted."""
        return (self.lite or self.network).raw_outputs(inputs, present)

    def raw_probabilities(self, name: str, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> np.ndarray:
        """One model's uncalibrated outputs, for inputs that may lack the modality it does not read."""
        count = len(next(iter(inputs.values())))
        specs = self.featurizer.input_specs()
        blanks = {}
        for modality, encoder in self.encoders.items():
            if encoder.input_name not in inputs:
                blanks.update(self.featurizer.blank_inputs(modality, count))
        complete = {**blanks, **{key: value for key, value in inputs.items() if key in specs}}
        return self.raw_outputs(complete, present)[name]

    def compile_for_serving(self) -> None:
        """Trace the models now instead of on the first request: for a server's start-up."""
        self.raw_outputs({**self.featurizer.blank_inputs("poster", 1), **self.featurizer.blank_inputs("overview", 1)})

    def calibrated(self, name: str, raw: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities, class-weighting offsets undone (see training)."""
        return calibrate(raw, self.calibration[name], self.config.genres)

    def thresholds(self, name: str) -> np.ndarray:
        per_genre = self.calibration[name]["thresholds"]
        return np.array([per_genre[genre] for genre in self.config.genres], dtype=np.float32)

    def max_genres(self, name: str) -> int | None:
        """The most genres model `name` lists for a movie (None: every genre over its threshold)."""
        return self.calibration[name].get("max_genres")

    def probabilities(self, posters: np.ndarray | None, overviews: list[str] | None,
                      overview_inputs: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Calibrated probabilities of every model the given inputs allow, for a batch with the same
        inputs present in every movie. The fusion model runs on either input alone too (the other blanked).
        `overview_inputs`: the overviews' model inputs when the caller has computed them already."""
        count = len(posters) if posters is not None else len(overviews)
        given = {"poster": posters is not None, "overview": overviews is not None}
        if given["overview"] and overview_inputs is None:
            overview_inputs = self.featurizer.overview_inputs(overviews)
        inputs = {}
        inputs.update(self.featurizer.poster_inputs(posters) if given["poster"] else self.featurizer.blank_inputs("poster", count))
        inputs.update(overview_inputs if given["overview"] else self.featurizer.blank_inputs("overview", count))
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
        poster_arrays, overview_inputs = self._features(posters, overviews, batched)
        probabilities = self.probabilities(poster_arrays, overviews, overview_inputs)
        count = len(posters if posters is not None else overviews)
        text_notes = self.encoders["overview"].notes(overviews) if overviews is not None else [[]] * count
        missing = "no poster" if posters is None else "no overview" if overviews is None else None
        answers = {name: self._answers(name, values) for name, values in probabilities.items()}
        results = []
        for row in range(count):
            result = {}
            for name, rows in answers.items():
                notes = list(text_notes[row]) if "overview" in MODEL_INPUTS[name] and overviews is not None else []
                if name == "fusion" and missing:
                    notes.append(f"The fusion model read the {'overview' if posters is None else 'poster'} alone ({missing}).")
                result[name] = {**rows[row], "notes": notes}
            results.append(result)
        return results if batched else results[0]

    def explain(self, poster=None, overview: str | None = None, genre: str | None = None) -> dict:
        """Why each model says what it says about one movie, for `genre` (default: the fusion
        model's top genre): Grad-CAM heat maps on the poster, word scores by occlusion, and what
        each input adds to the fusion model. See `genre_hf.inference.explain` for the returned data."""
        from genre_hf.inference.explain import explainer

        return explainer(self).explain(poster, overview, genre)

    def _features(self, posters: list | None, overviews: list[str] | None, batched: bool):
        """(decoded posters or None, the overviews' model inputs or None). For a batch of both, the
        posters are decoded in a thread beside the overview encoder: Pillow and TensorFlow let go of
        the GIL while they work, and a pretrained encoder's pass is most of a batch's time. A smaller
        batch is decoded first: starting the thread (0.5 ms) would cost more than it hides."""
        if posters is None or overviews is None or len(posters) < THREADED_POSTERS:
            return (self._poster_arrays(posters, batched) if posters is not None else None,
                    self.featurizer.overview_inputs(overviews) if overviews is not None else None)
        with ThreadPoolExecutor(1, thread_name_prefix="genre_hf-posters") as pool:
            decoding = pool.submit(self._poster_arrays, posters, batched)
            try:
                overview_inputs = self.featurizer.overview_inputs(overviews)
            finally:
                poster_arrays = decoding.result()  # a poster's error first, as without the thread
        return poster_arrays, overview_inputs

    def _poster_arrays(self, posters: list, batched: bool) -> np.ndarray:
        return np.stack([self._poster_array(item, i if batched else None) for i, item in enumerate(posters)])

    def _poster_array(self, poster, index: int | None) -> np.ndarray:
        try:
            return poster_to_array(poster, self.featurizer.image_size)
        except ValueError as error:
            where = f"poster {index}: " if index is not None else ""
            raise ValueError(f"{where}{error}") from None

    def _answers(self, name: str, probabilities: np.ndarray) -> list[dict]:
        """Model `name`'s answer for each movie (N x G calibrated probabilities in): its probabilities
        most likely first and the genres it predicts; ranked and decided for the whole batch at once."""
        genres = self.config.genres
        orders = np.argsort(-probabilities, axis=1, kind="stable").tolist()
        chosen = decide(probabilities, self.thresholds(name), self.max_genres(name)).tolist()
        values = probabilities.tolist()  # Python floats, as float() of each would give
        return [
            {"probabilities": {genres[i]: row[i] for i in order}, "genres": [genres[i] for i in order if picked[i]]}
            for row, order, picked in zip(values, orders, chosen)
        ]

    # ---- the folder format (see hub/folder.py) ----------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the model files (no reports, no card) as the folder `folder`: a new one, or a model
        folder replaced as a whole (`folder.writing`: never a folder of anything else)."""
        with model_folder.writing(folder) as staged:
            self._write_model_files(staged)
        return Path(folder)

    def _write_model_files(self, folder: Path) -> None:
        self.config.save(folder / model_folder.CONFIG_FILE)
        self.tokenizer.save(folder / model_folder.VOCABULARY_FILE)
        model_folder.write_calibration(folder / model_folder.THRESHOLDS_FILE, self.config, self.calibration)
        for modality, encoder in self.encoders.items():
            for role, content in encoder.saved_files().items():
                (folder / model_folder.encoder_file(modality, role)).write_bytes(content)
        network = self.lite_content()
        (folder / model_folder.NETWORK_FILE).write_bytes(network)
        model_folder.save_weights(self.whole, folder / model_folder.WEIGHTS_FILE, self.config)

    def lite_content(self) -> bytes:
        """The three models converted for LiteRT (model.tflite): the loaded folder's, else converted now."""
        if self.lite is not None:
            return self.lite.content
        from genre_hf.modeling.litert import convert

        return convert(self.network.lite_pass())

    @classmethod
    def load(cls, folder: str | Path, **kwargs):
        """Rebuild from a folder, checking every file; errors name the file and what is wrong in it. The
        models answer on LiteRT (model.tflite); the Keras models are built only when needed."""
        from genre_hf.modeling.fusion import MODALITIES_INPUT, rows_per_pass
        from genre_hf.modeling.litert import LiteNetwork

        folder = Path(folder)
        if not folder.is_dir():
            raise model_folder.FolderError(f"no model folder at {folder}")
        model_folder.check_complete(folder)
        config = model_folder.read_config(folder)
        vocabulary = model_folder.read_vocabulary(folder, config)
        calibration = model_folder.read_calibration(folder, config)
        model_folder.check_stamp(folder, config)  # the weights' stamps: all before anything is built
        model_folder.read_benchmark(folder)  # the reports the app, the card and evaluate read: refused here, not there
        model_folder.read_training_record(folder)
        network = model_folder.read_network(folder, config)
        classifier = cls(config, vocabulary, calibration, weights=folder / model_folder.WEIGHTS_FILE, **kwargs)
        model_folder.load_encoder_files(folder, classifier.encoders)
        classifier.lite = LiteNetwork(network, rows_per_pass(classifier.encoders, config.fusion, config.tokens), MODALITIES_INPUT)
        return classifier

    # ---- the Hub (see hub/transfer.py) ------------------------------------------------------------

    def save_pretrained(self, save_directory, *, repo_id: str | None = None) -> Path:
        """Write the model folder with its reports and card; it appears (or its files are replaced)
        only once everything is written. The card's usage snippet loads `repo_id` when given, else
        this folder."""
        with model_folder.writing(save_directory) as staging:
            self._write_model_files(staging)
            if self.files_dir and self.files_dir.resolve() != Path(save_directory).resolve():
                for name in model_folder.REPORT_FILES:
                    if (self.files_dir / name).is_file():
                        shutil.copyfile(self.files_dir / name, staging / name)  # a new file: the mode the umask gives
            render_card(staging, self.config, repo_id=repo_id, location=str(save_directory)).save(staging / model_folder.CARD_FILE)
        return Path(save_directory)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload genre_hf model", branch: str | None = None) -> str:
        """Save to a temporary folder, then create the repo (if needed) and upload it in one commit
        (`transfer.upload_folder`: nothing reaches the Hub unless the folder saved completely, and a
        repo this call created is deleted again if the upload fails). Returns the commit's URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = transfer.full_repo_id(api, repo_id)
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "model", repo_id=repo_id)
            return transfer.upload_folder(api, folder, repo_id, private=private, commit_message=commit_message, branch=branch)

    @classmethod
    def from_pretrained(cls, model_id_or_folder, *, revision: str | None = None, cache_dir=None, force_download: bool = False,
                        local_files_only: bool = False, token: str | None = None) -> "GenreClassifier":
        """Load from a local folder, or from a Hub repo id (`user/name`) through the Hub cache; every
        file is checked (`load`), and an error names the file."""
        folder = Path(model_id_or_folder).expanduser()
        if not folder.is_dir():
            folder = transfer.download(str(model_id_or_folder), revision, cache_dir, force_download, local_files_only, token)
        return cls.load(folder, files_dir=folder)
