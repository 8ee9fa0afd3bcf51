"""The model folder: which files it holds, how each is checked when read, and how it is written.

A folder is plain, safe files: `config.json`, `vocabulary.txt`, `thresholds.json` and the
weights-only `model.weights.h5` (the three models share their encoders' trunks), plus reports. Nothing in it is executed: architectures
are rebuilt from the config in code. Reading checks every file fully and names the file in any
error, because a folder that loads but predicts nonsense is worse than one that refuses to load.
Writing assembles the folder in a temporary one beside it, so a failed save leaves nothing half-made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from genre_hf import staging
from genre_hf.config import FORMAT_VERSION, GenreConfig
from genre_hf.evaluation.files import BENCHMARK_JSON, BENCHMARK_MD, PLOT_FILES, RESULTS_FILE, TRAINING_JSON
from genre_hf.modeling import MODEL_NAMES
from genre_hf.settings import is_a
from genre_hf.settings import shown as _shown

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
THRESHOLDS_FILE = "thresholds.json"
WEIGHTS_FILE = "model.weights.h5"
MODEL_FILES = (CONFIG_FILE, VOCABULARY_FILE, THRESHOLDS_FILE, WEIGHTS_FILE)
# What training reports beside the model (named in evaluation/files.py), and the card: copied along
# when a folder is saved again.
PLOTS = tuple(PLOT_FILES.values())
REPORT_FILES = (BENCHMARK_JSON, BENCHMARK_MD, TRAINING_JSON, RESULTS_FILE, *PLOTS)
CARD_FILE = "README.md"
REPO_FILES = (*MODEL_FILES, *REPORT_FILES, CARD_FILE)  # what a Hub repo of a model holds and a download fetches
TRAINED_WITH = "genre_hf_config"  # attribute of each weights file: the config it was trained with
SAVED_WITH = "genre_hf_files"  # attribute of each weights file: the sha256 of the vocabulary and thresholds saved with it
PINNED_FILES = (VOCABULARY_FILE, THRESHOLDS_FILE)
TEMPERATURES = (0.01, 100.0)  # calibration fits T in about [0.05, 20]; a folder's must be within this
MAX_VOCABULARY_BYTES = 16 * 2**20  # 200,000 tokens (the most `tokens.max_tokens` allows) of up to ~80 bytes
SPECIAL_TOKENS = ["", "[UNK]"]  # TextVectorization's padding and out-of-vocabulary tokens


class FolderError(ValueError):
    """A model folder that cannot be used; the message names the file and what is wrong in it."""


def check_complete(folder: Path) -> None:
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise FolderError(f"{folder} is not a complete genre_hf model folder: missing {', '.join(missing)}")


def read_json_object(path: Path) -> dict:
    """A JSON object, strictly: no NaN or Infinity (Python's json takes them), no duplicate keys."""
    def no_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    def unique(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a key is repeated")
        return dict(pairs)

    try:
        value = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant, object_pairs_hook=unique)
    except UnicodeDecodeError:
        raise FolderError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise FolderError(f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except (ValueError, RecursionError) as error:
        raise FolderError(f"{path.name} is not valid JSON ({error if isinstance(error, ValueError) else 'nested too deep'})") from None
    if not isinstance(value, dict):
        raise FolderError(f"{path.name} must hold a JSON object, not {_shown(value)}")
    return value


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
    path = folder / VOCABULARY_FILE
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        raise FolderError(f"{VOCABULARY_FILE} is {path.stat().st_size:,} bytes, more than any vocabulary of max_tokens words takes")
    try:
        text = path.read_text(encoding="utf-8")
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


def write_calibration(path: Path, config: GenreConfig, calibration: dict) -> None:
    thresholds = {"format_version": FORMAT_VERSION, "genres": config.genres, "models": calibration}
    path.write_text(json.dumps(thresholds, indent=2) + "\n")


def save_weights(model, path: Path, config: GenreConfig) -> None:
    """Keras weights-only file, stamped with the config it was trained with and the sha256 of the
    vocabulary and thresholds saved beside it (written first), so none of them can change alone."""
    import h5py

    model.save_weights(path)
    files = {name: file_sha256(path.parent / name) for name in PINNED_FILES}
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
            stamp, files = (json.loads(value) if value is not None else None for value in (stamp, files))
    except (OSError, ValueError, TypeError) as error:
        raise FolderError(f"{WEIGHTS_FILE} is not a readable weights file ({type(error).__name__})") from None
    if not isinstance(stamp, dict) or not isinstance(files, dict):
        raise FolderError(f"{WEIGHTS_FILE} has no stamp or a damaged one: it was not saved by genre_hf")
    differences = _differences(_flat(stamp), _flat(config.to_dict()))
    if differences:
        raise FolderError(f"{CONFIG_FILE} differs from the config {WEIGHTS_FILE} was trained with: {', '.join(differences[:5])}")
    for name in PINNED_FILES:
        if files.get(name) != file_sha256(folder / name):
            raise FolderError(f"{name} is not the file {WEIGHTS_FILE} was saved with (its sha256 differs): it was changed or "
                              "replaced after the model was saved")


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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        values = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(values, dict) and {"format_version", "genres"} <= set(values) and (folder / WEIGHTS_FILE).is_file()


def check_destination(target: str | Path) -> None:
    """Refuse, before any work, a destination that is a file, a folder of something else, or one
    that cannot be written; only a new folder, an empty one or a genre_hf model folder is replaced."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise FolderError(f"{target} is a file, not a folder: choose another output folder")
    if target.is_dir() and any(target.iterdir()) and not is_model_folder(target):
        raise FolderError(f"{target} exists and is not a genre_hf model folder: it is left as it is (choose another output folder, "
                          "or empty it first)")
    existing = next(folder for folder in (target, *target.parents) if folder.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FolderError(f"cannot write into {existing}: no permission")


@contextmanager
def writing(target: str | Path):
    """Yield a staging folder; when the block succeeds it becomes `target`, replacing a model folder
    there as a whole; if the block fails, it is removed and `target` is untouched.

    The staging folder is made beside `target` (the same filesystem, so the switch is a rename);
    when `target` is itself a mount point, inside it, and the files are then replaced one by one.
    Only a new or empty folder, or a genre_hf model folder, is ever replaced (`check_destination`).
    A run killed while saving leaves its staging folder behind: the next save removes it (and puts a
    model folder that was being replaced back, if its replacement never arrived).
    """
    target = Path(target)
    check_destination(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)
    inside = target.is_dir() and os.path.ismount(target)
    staged = Path(tempfile.mkdtemp(prefix=staging.prefix(target.name), suffix=".partial", dir=target if inside else target.parent))
    staged.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700: the folder gets the mode the user's umask gives any folder
    try:
        yield staged
        if inside:
            _replace_files(staged, target)
        elif not target.exists():
            staged.rename(target)
        else:
            aside = staged.with_suffix(".replaced")
            target.rename(aside)
            staged.rename(target)
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _replace_files(staging: Path, target: Path) -> None:
    """Inside a mount point: the old model's files go, the new ones move in (each a rename)."""
    for name in (*MODEL_FILES, *REPORT_FILES, CARD_FILE):
        if (target / name).is_file() and not (staging / name).exists():
            (target / name).unlink()
    for path in staging.iterdir():
        os.replace(path, target / path.name)


def _clean_stale(target: Path) -> None:
    """Staging folders of saves into `target` whose process is gone: removed, or (a replaced model
    folder whose replacement never arrived) put back."""
    staging.remove_abandoned(target.parent, staging.pattern(target.name))
    if target.is_dir():
        staging.remove_abandoned(target, staging.pattern(None))
    for path in target.parent.glob(staging.pattern(target.name, ".replaced")):
        if staging.owner_alive(path):
            continue
        if target.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.rename(target)
