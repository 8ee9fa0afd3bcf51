"""The model folder: which files it holds, how each is checked when read, and how it is written.

A folder is plain, safe files: `config.json`, `vocabulary.txt`, `thresholds.json`, the
weights-only `model.weights.h5` (the three models share their encoders' trunks) and the same three
models converted for LiteRT, `model.tflite` (what answers: a flatbuffer of builtin ops, interpreted,
never executed as code), plus each frozen encoder's own files (its converted pass,
`<modality>_encoder.tflite`, and the vocabulary it tokenizes with) and reports. Architectures are
rebuilt from the config in code when the Keras models are needed (training, Grad-CAM). Reading checks every file fully and names the file in any
error, because a folder that loads but predicts nonsense is worse than one that refuses to load.
Writing assembles the folder in a temporary one beside it, so a failed save leaves nothing half-made.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from genre_hf import reading, staging
from genre_hf.config import FORMAT_VERSION, MAX_WEIGHT_BYTES, GenreConfig
from genre_hf.evaluation.files import BENCHMARK_JSON, BENCHMARK_MD, PLOT_FILES, RESULTS_FILE, TRAINING_JSON
from genre_hf.modeling import MODEL_NAMES
from genre_hf.settings import is_a
from genre_hf.settings import shown as _shown

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
THRESHOLDS_FILE = "thresholds.json"
WEIGHTS_FILE = "model.weights.h5"
NETWORK_FILE = "model.tflite"  # the three models on LiteRT, float32
MODEL_FILES = (CONFIG_FILE, VOCABULARY_FILE, THRESHOLDS_FILE, WEIGHTS_FILE, NETWORK_FILE)
ENCODER_ROLES = {"converted": "encoder.tflite", "vocabulary": "encoder_vocabulary.txt"}  # a frozen encoder's files: <modality>_<name>
MAX_CONVERTED_BYTES = 256 * 2**20  # a frozen encoder's converted pass (MiniLM-L6 in int8: 22 MB)
# What training reports beside the model (named in evaluation/files.py), and the card: copied along
# when a folder is saved again.
PLOTS = tuple(PLOT_FILES.values())
REPORT_FILES = (BENCHMARK_JSON, BENCHMARK_MD, TRAINING_JSON, RESULTS_FILE, *PLOTS)
CARD_FILE = "README.md"
ENCODER_FILES = tuple(f"{modality}_{name}" for modality in ("poster", "overview") for name in ENCODER_ROLES.values())
REPO_FILES = (*MODEL_FILES, *ENCODER_FILES, *REPORT_FILES, CARD_FILE)  # what a Hub repo of a model holds and a download fetches
TRAINED_WITH = "genre_hf_config"  # attribute of each weights file: the config it was trained with
SAVED_WITH = "genre_hf_files"  # attribute of each weights file: the sha256 of the vocabulary and thresholds saved with it
PINNED_FILES = (VOCABULARY_FILE, THRESHOLDS_FILE)
TEMPERATURES = (0.01, 100.0)  # calibration fits T in about [0.05, 20]; a folder's must be within this
MAX_REPORT_BYTES = 16 * 2**20  # a report or plot (benchmark.json of three splits and 500 genres: about 2 MB)
MAX_BYTES = {  # the most each file of a folder or Hub repo may take, checked before it is read or downloaded
    CONFIG_FILE: 2**20,  # 500 genres of 100 characters: 60 kB
    THRESHOLDS_FILE: 4 * 2**20,  # three models x 500 genres x two numbers
    VOCABULARY_FILE: 16 * 2**20,  # 200,000 tokens (the most `tokens.max_tokens` allows) of up to ~80 bytes
    TRAINING_JSON: 64 * 2**20,  # it lists the fitted and tuned movies as 16-character digests: 3 million of them
    CARD_FILE: 2**20,
    WEIGHTS_FILE: int(MAX_WEIGHT_BYTES * 1.25) + 2**22,  # any accepted config's (each config's own: `check_stamp`)
    NETWORK_FILE: int(MAX_WEIGHT_BYTES * 1.25) + 2**22,  # the same weights as constants (each config's own: `read_network`)
    **{name: MAX_CONVERTED_BYTES if name.endswith(".tflite") else 16 * 2**20 for name in ENCODER_FILES},
    **{name: MAX_REPORT_BYTES for name in REPORT_FILES if name != TRAINING_JSON},
}
SPECIAL_TOKENS = ["", "[UNK]"]  # TextVectorization's padding and out-of-vocabulary tokens


class FolderError(ValueError):
    """A model folder that cannot be used; the message names the file and what is wrong in it."""


def check_complete(folder: Path) -> None:
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise FolderError(f"{folder} is not a complete genre_hf model folder: missing {', '.join(missing)}")


def read_json_object(path: Path) -> dict:
    """A JSON object from a model folder, read within its file's size (`MAX_BYTES`) and strictly
    (`reading.parse_json`: no NaN or Infinity, no repeated key, bounded depth)."""
    try:
        return reading.read_json(path, MAX_BYTES.get(path.name, MAX_REPORT_BYTES))
    except reading.ReadError as error:
        raise FolderError(str(error)) from None


def read_config(folder: Path) -> GenreConfig:
    """config.json, every value of the right type and within its range (`GenreConfig.from_dict`,
    `GenreConfig.problems`), before anything is built."""
    values = read_json_object(folder / CONFIG_FILE)
    try:
        config = GenreConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise FolderError(f"{CONFIG_FILE}: {_first_line(error)}") from None
    problems = config.problems()
    if problems:
        raise FolderError(f"{CONFIG_FILE}: " + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    return config


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def read_vocabulary(folder: Path, config: GenreConfig) -> list[str]:
    try:
        text = reading.read_bytes(folder / VOCABULARY_FILE, MAX_BYTES[VOCABULARY_FILE]).decode("utf-8")
    except reading.ReadError as error:
        raise FolderError(f"{error} (no vocabulary of max_tokens words takes more)") from None
    except UnicodeDecodeError as error:
        raise FolderError(f"{VOCABULARY_FILE} is not UTF-8 text (byte {error.start:,})") from None
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if tokens[:2] != SPECIAL_TOKENS or len(tokens) < 3:
        raise FolderError(  # how many lines and whether the first two are right: never what they say
            f"{VOCABULARY_FILE} must start with an empty line (padding) and [UNK], then at least one word; it has {len(tokens):,} "
            f"lines{'' if tokens[:2] == SPECIAL_TOKENS else ', and its first two are not those'}"
        )
    if len(tokens) > config.tokens.max_tokens:
        raise FolderError(f"{VOCABULARY_FILE} has {len(tokens):,} tokens, more than tokens.max_tokens {config.tokens.max_tokens:,} "
                          f"in {CONFIG_FILE}")
    if len(set(tokens)) != len(tokens):
        raise FolderError(f"{VOCABULARY_FILE} has duplicate tokens")
    return tokens


def read_calibration(folder: Path, config: GenreConfig) -> dict:
    """thresholds.json: per model, a temperature, optional logit offsets and a threshold per genre,
    each a finite number in its range."""
    values = read_json_object(folder / THRESHOLDS_FILE)
    where = THRESHOLDS_FILE
    if values.get("format_version") != FORMAT_VERSION:
        raise FolderError(f"{where}: format_version must be {FORMAT_VERSION}, not {_shown(values.get('format_version'))}")
    if values.get("genres") != config.genres:
        raise FolderError(f"{where}: its genres (they must be the {len(config.genres)} of {CONFIG_FILE}, in its order) are not those of "
                          f"{CONFIG_FILE}")
    models = values.get("models")
    if not isinstance(models, dict) or set(models) != set(MODEL_NAMES):
        raise FolderError(f"{where}: models must have exactly {list(MODEL_NAMES)}")
    low_t, high_t = TEMPERATURES
    for name, entry in models.items():
        temperature = entry.get("temperature") if isinstance(entry, dict) else None
        if not is_a(temperature, float) or not low_t <= temperature <= high_t:
            raise FolderError(f"{where}: {name} needs a temperature from {low_t:g} to {high_t:g}, not {_shown(temperature)}")
        cap = entry.get("max_genres")
        if cap is not None and not (is_a(cap, int) and 1 <= cap <= len(config.genres)):
            raise FolderError(f"{where}: {name} max_genres must be null or a whole number from 1 to {len(config.genres)}, not {_shown(cap)}")
        for key, low, high in (("thresholds", 0.0, 1.0), ("logit_offsets", -50.0, 50.0)):
            per_genre = entry.get(key)
            if per_genre is None and key == "logit_offsets":
                continue
            if not isinstance(per_genre, dict) or set(per_genre) != set(config.genres):
                raise FolderError(f"{where}: {name} {key} must have one value per genre of {CONFIG_FILE}")
            bad = [genre for genre, value in per_genre.items() if not is_a(value, float) or not low <= value <= high]
            if bad:
                raise FolderError(f"{where}: {name} {key} of {len(bad)} genre{'s' * (len(bad) > 1)} (e.g. {bad[0]}) must be numbers "
                                  f"from {low:g} to {high:g}")
    return models


def read_benchmark(folder: Path) -> dict | None:
    """benchmark.json ({split: report}) with every report fit for the tables that show it
    (`scoring.report_problem`), or None when the folder has none."""
    from genre_hf.evaluation.scoring import report_problem

    path = folder / BENCHMARK_JSON
    if not path.exists():
        return None
    reports = read_json_object(path)
    problem = next((found for report in reports.values() if (found := report_problem(report))), None)
    if problem:
        raise FolderError(f"{BENCHMARK_JSON}: {problem}")
    return reports


def read_training_record(folder: Path) -> dict | None:
    """training_report.json, fit for its readers (`provenance.record_problem`), or None when the folder has none."""
    from genre_hf.evaluation.provenance import record_problem

    path = folder / TRAINING_JSON
    if not path.exists():
        return None
    record = read_json_object(path)
    problem = record_problem(record)
    if problem:
        raise FolderError(f"{TRAINING_JSON}: {problem}")
    return record


def encoder_file(modality: str, role: str) -> str:
    """The file name of a frozen encoder's file of `role` ("converted", "vocabulary")."""
    return f"{modality}_{ENCODER_ROLES[role]}"


def load_encoder_files(folder: Path, encoders: dict) -> None:
    """Each encoder's files of the folder, read and checked by the encoder (a converted pass against the
    sha256 config.json records); a missing or wrong one is refused by name."""
    for modality, encoder in encoders.items():
        paths = {role: folder / encoder_file(modality, role) for role in encoder.file_roles()}
        missing = [path.name for path in paths.values() if not path.is_file()]
        if missing:
            raise FolderError(f"{folder} is not a complete genre_hf model folder: missing {', '.join(missing)} "
                              f"({CONFIG_FILE} runs its {modality} encoder on {encoder.settings.runtime})")
        try:
            encoder.load_files(paths)
        except ValueError as error:
            raise FolderError(str(error)) from None


def read_network(folder: Path, config: GenreConfig) -> bytes:
    """model.tflite's bytes, within what the config's weights take (`check_stamp` has compared its sha256
    with the stamp's), read once: the LiteRT interpreter gets them as they were checked."""
    limit = int(config.weight_bytes() * 1.25) + 2**22
    try:
        content = reading.read_bytes(folder / NETWORK_FILE, limit)
    except reading.ReadError as error:
        raise FolderError(str(error)) from None
    if hashlib.sha256(content).hexdigest() != _saved_with(folder).get(NETWORK_FILE):
        raise FolderError(f"{NETWORK_FILE} is not the file {WEIGHTS_FILE} was saved with (its sha256 differs): it was changed or "
                          "replaced after the model was saved")
    return content


def write_calibration(path: Path, config: GenreConfig, calibration: dict) -> None:
    thresholds = {"format_version": FORMAT_VERSION, "genres": config.genres, "models": calibration}
    path.write_text(json.dumps(thresholds, indent=2) + "\n")


def save_weights(model, path: Path, config: GenreConfig) -> None:
    """Keras weights-only file, stamped with the config it was trained with and the sha256 of the
    files saved beside it (written first: the vocabulary, thresholds, model.tflite and any encoder
    vocabulary; a converted encoder is pinned by config.json), so none of them can change alone."""
    import h5py

    model.save_weights(path)
    names = [*PINNED_FILES, NETWORK_FILE, *(name for name in ENCODER_FILES if name.endswith(".txt") and (path.parent / name).is_file())]
    files = {name: file_sha256(path.parent / name) for name in names}
    with h5py.File(path, "a") as handle:
        handle.attrs[TRAINED_WITH] = json.dumps(config.to_dict())
        handle.attrs[SAVED_WITH] = json.dumps(files)


def check_stamp(folder: Path, config: GenreConfig) -> None:
    """Before anything is built: the weights file is one a model of this config could have, its stamp
    is this config.json, and the vocabulary and thresholds are the files it was saved with."""
    import h5py

    path = folder / WEIGHTS_FILE
    if path.stat().st_size > config.weight_bytes() * 1.25 + 2**22:
        raise FolderError(f"{WEIGHTS_FILE} is {path.stat().st_size / 2**20:,.1f} MB, more than the weights of the model in "
                          f"{CONFIG_FILE} take ({config.weight_bytes() / 2**20:,.1f} MB)")
    try:
        with h5py.File(path, "r") as handle:
            stamp, files = (handle.attrs.get(name) for name in (TRAINED_WITH, SAVED_WITH))
            stamp, files = (_stamp(value) for value in (stamp, files))
    except reading.ReadError:
        raise FolderError(f"{WEIGHTS_FILE} has a damaged stamp") from None
    except (OSError, ValueError, TypeError) as error:
        raise FolderError(f"{WEIGHTS_FILE} is not a readable weights file ({type(error).__name__})") from None
    if not isinstance(stamp, dict) or not isinstance(files, dict):
        raise FolderError(f"{WEIGHTS_FILE} has no stamp or a damaged one: it was not saved by genre_hf")
    differences = _differences(_flat(stamp), _flat(config.to_dict()))
    if differences:
        raise FolderError(f"{CONFIG_FILE} differs from the config {WEIGHTS_FILE} was trained with: {', '.join(differences[:5])}")
    for name in (*PINNED_FILES, *(name for name in ENCODER_FILES if name in files)):
        if not (folder / name).is_file():
            raise FolderError(f"{folder} is not a complete genre_hf model folder: missing {name}, which {WEIGHTS_FILE} was saved with")
        if files.get(name) != file_sha256(folder / name):
            raise FolderError(f"{name} is not the file {WEIGHTS_FILE} was saved with (its sha256 differs): it was changed or "
                              "replaced after the model was saved")


def _saved_with(folder: Path) -> dict:
    """The weights file's record of the files saved with it (`check_stamp` has read it once already)."""
    import h5py

    with h5py.File(folder / WEIGHTS_FILE, "r") as handle:
        return _stamp(handle.attrs.get(SAVED_WITH)) or {}


def _stamp(value):
    """A stamp attribute of the weights file: JSON of at most MAX_BYTES[CONFIG_FILE] bytes, or None."""
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) or len(value) > MAX_BYTES[CONFIG_FILE]:
        raise reading.ReadError("a stamp that is not short JSON text")
    return reading.parse_json(value, WEIGHTS_FILE, kind=None)


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_weights(model, path: Path) -> None:
    """Weights into a rebuilt model (whose config `check_stamp` has compared with the file's); a
    damaged file, or one that does not fit, is refused."""
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a damaged or mismatched file
        raise FolderError(f"{path.name} does not fit the architecture in {CONFIG_FILE} ({type(error).__name__})") from None


def _differences(trained: dict, given: dict) -> list[str]:
    """The settings (dotted names) whose values differ, or that only one of the two has."""
    return [f"{key} is {_shown(given.get(key))} (trained with {_shown(trained.get(key))})" for key in sorted(set(trained) | set(given))
            if given.get(key) != trained.get(key)]


def _flat(values: dict, prefix: str = "") -> dict:
    """{"poster.filters": [...], ...}: a config's sections flattened to dotted names."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def is_model_folder(folder: Path) -> bool:
    """Whether `folder` holds a genre_hf model (its config and weights), so replacing it destroys nothing else."""
    try:
        values = reading.read_json(folder / CONFIG_FILE, MAX_BYTES[CONFIG_FILE])
    except reading.ReadError:
        return False
    return {"format_version", "genres"} <= set(values) and (folder / WEIGHTS_FILE).is_file()


def check_destination(target: str | Path, reads=()) -> Path:
    """Refuse, before any work, a destination that is a file, a folder of something else, one that
    cannot be written, or one the command reads (`staging.check_folder`); only a new folder, an
    empty one or a genre_hf model folder is replaced."""
    try:
        return staging.check_folder(target, reads, is_model_folder, "genre_hf model folder")
    except ValueError as error:
        raise FolderError(str(error)) from None


@contextmanager
def writing(target: str | Path, reads=()):
    """Yield a staging folder; when the block succeeds it becomes `target` (where a symbolic link
    points), replacing a model folder there as a whole; if the block fails, it is removed and
    `target` is untouched. Only a new or empty folder, or a genre_hf model folder, is ever replaced
    (`staging.folder` says how)."""
    check_destination(target, reads)
    with staging.folder(target, reads, is_model_folder, "genre_hf model folder") as staged:
        yield staged
