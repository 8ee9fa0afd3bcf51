"""The model folder: which files it holds, how each is checked when read, and how it is written.

A folder is plain, safe files: `config.json`, `vocabulary.txt`, `thresholds.json` and the
weights-only `model.weights.h5` (the three models share their encoders' trunks), plus reports. Nothing in it is executed: architectures
are rebuilt from the config in code. Reading checks every file fully and names the file in any
error, because a folder that loads but predicts nonsense is worse than one that refuses to load.
Writing assembles the folder in a temporary one beside it, so a failed save leaves nothing half-made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from genre_hf.config import FORMAT_VERSION, MODEL_NAMES, GenreConfig
from genre_hf.evaluation.files import BENCHMARK_JSON, BENCHMARK_MD, PLOT_FILES, RESULTS_FILE, TRAINING_JSON

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
SPECIAL_TOKENS = ["", "[UNK]"]  # TextVectorization's padding and out-of-vocabulary tokens


class FolderError(ValueError):
    """A model folder that cannot be used; the message names the file and what is wrong in it."""


def check_complete(folder: Path) -> None:
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise FolderError(f"{folder} is not a complete genre_hf model folder: missing {', '.join(missing)}")


def read_json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise FolderError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise FolderError(f"{path.name} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise FolderError(f"{path.name} must hold a JSON object, not a {type(value).__name__}")
    return value


def read_config(folder: Path) -> GenreConfig:
    path = folder / CONFIG_FILE
    values = read_json_object(path)
    try:
        config = GenreConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise FolderError(f"{CONFIG_FILE}: {error}") from None
    problems = [problem for field in dataclasses.fields(GenreConfig) if (problem := _type_problem(field.name, values))]
    if not config.genres:
        problems.append("genres is empty")
    elif len(set(config.genres)) != len(config.genres):
        problems.append("genres has duplicates")
    for name in ("image_size", "sequence_length", "max_tokens"):
        if isinstance(getattr(config, name), int) and getattr(config, name) < 1:
            problems.append(f"{name} must be positive")
    if problems:
        raise FolderError(f"{CONFIG_FILE}: " + "; ".join(problems))
    return config


def _type_problem(name: str, values: dict) -> str | None:
    """Compare a config.json value with the type of the field's default (ints and floats as JSON has them)."""
    if name not in values:
        return None
    default, value = getattr(GenreConfig(), name), values[name]
    if isinstance(default, list):
        kind = type(default[0]) if default else str
        ok = isinstance(value, list) and all(_is(item, kind) for item in value)
        expected = f"a list of {_type_name(kind)}"
    else:
        ok, expected = _is(value, type(default)), _type_name(type(default))
    return None if ok else f"{name} must be {expected}, not {json.dumps(value)}"


def _is(value, kind: type) -> bool:
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _type_name(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(kind, kind.__name__)


def read_vocabulary(folder: Path, config: GenreConfig) -> list[str]:
    path = folder / VOCABULARY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise FolderError(f"{VOCABULARY_FILE} is not UTF-8 text (byte {error.start})") from None
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if tokens[:2] != SPECIAL_TOKENS or len(tokens) < 3:
        raise FolderError(
            f"{VOCABULARY_FILE} must start with an empty line (padding) and [UNK], then at least one word; "
            f"it has {len(tokens)} lines starting {tokens[:2]!r}"
        )
    if len(tokens) > config.max_tokens:
        raise FolderError(f"{VOCABULARY_FILE} has {len(tokens):,} tokens, more than max_tokens {config.max_tokens:,} in {CONFIG_FILE}")
    if len(set(tokens)) != len(tokens):
        raise FolderError(f"{VOCABULARY_FILE} has duplicate tokens")
    return tokens


def read_calibration(folder: Path, config: GenreConfig) -> dict:
    """thresholds.json: per model, a temperature, optional logit offsets and a threshold per genre."""
    values = read_json_object(folder / THRESHOLDS_FILE)
    where = THRESHOLDS_FILE
    if values.get("format_version") != FORMAT_VERSION:
        raise FolderError(f"{where}: format_version must be {FORMAT_VERSION}, not {values.get('format_version')!r}")
    if values.get("genres") != config.genres:
        raise FolderError(f"{where}: its genres {values.get('genres')} are not those of {CONFIG_FILE} {config.genres} (same order)")
    models = values.get("models")
    if not isinstance(models, dict) or set(models) != set(MODEL_NAMES):
        found = sorted(models) if isinstance(models, dict) else models
        raise FolderError(f"{where}: models must have exactly {list(MODEL_NAMES)}, found {found}")
    for name, entry in models.items():
        temperature = entry.get("temperature") if isinstance(entry, dict) else None
        if not _is(temperature, float) or not temperature > 0:
            raise FolderError(f"{where}: {name} needs a positive temperature, not {temperature!r}")
        for key, low, high in (("thresholds", 0.0, 1.0), ("logit_offsets", -50.0, 50.0)):
            per_genre = entry.get(key)
            if per_genre is None and key == "logit_offsets":
                continue
            if not isinstance(per_genre, dict) or set(per_genre) != set(config.genres):
                raise FolderError(f"{where}: {name} {key} must have one value per genre of {CONFIG_FILE}")
            bad = [genre for genre, value in per_genre.items() if not _is(value, float) or not low <= value <= high]
            if bad:
                raise FolderError(f"{where}: {name} {key} of {', '.join(bad)} must be numbers in [{low:g}, {high:g}]")
    return models


def write_calibration(path: Path, config: GenreConfig, calibration: dict) -> None:
    thresholds = {"format_version": FORMAT_VERSION, "genres": config.genres, "models": calibration}
    path.write_text(json.dumps(thresholds, indent=2) + "\n")


def save_weights(model, path: Path, config: GenreConfig) -> None:
    """Keras weights-only file, stamped with the config it was trained with."""
    import h5py

    model.save_weights(path)
    with h5py.File(path, "a") as handle:
        handle.attrs[TRAINED_WITH] = json.dumps(config.to_dict())


def load_weights(model, path: Path, config: GenreConfig) -> None:
    """Weights into a rebuilt model; a file that is damaged, or was trained with another config, is refused."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            stamp = handle.attrs.get(TRAINED_WITH)
    except OSError as error:
        raise FolderError(f"{path.name} is not a readable weights file ({error})") from None
    if stamp is not None:
        differences = _differences(json.loads(stamp), config.to_dict())
        if differences:
            raise FolderError(
                f"{CONFIG_FILE} differs from the config {path.name} was trained with: {', '.join(differences)}"
            )
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a damaged or mismatched file
        raise FolderError(f"{path.name} does not fit the architecture in {CONFIG_FILE} ({type(error).__name__}: {error})") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _differences(trained: dict, given: dict) -> list[str]:
    """Settings that differ; a setting newer than the weights (absent from their stamp) keeps its default."""
    return [f"{key} is {given.get(key)!r} (trained with {value!r})" for key, value in sorted(trained.items()) if given.get(key) != value]


@contextmanager
def writing(target: str | Path):
    """Yield a temporary folder beside `target`; when the block succeeds, its files move into `target`.

    A new target is the temporary folder renamed; an existing one gets each file replaced (other
    files in it are kept). If the block fails, the temporary folder is removed and `target` is
    untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700: the folder gets the mode the user's umask gives any folder
    try:
        yield staging
        if not target.exists():
            staging.rename(target)
            return
        for path in sorted(staging.rglob("*"), key=lambda p: len(p.parts)):
            destination = target / path.relative_to(staging)
            if path.is_dir():
                destination.mkdir(exist_ok=True)
            else:
                os.replace(path, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
