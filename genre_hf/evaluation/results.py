"""`results.json`: a run's figures with everything needed to read them without us.

Written by `genre-hf train` (one seed), `genre-hf benchmark` (several) and `genre-hf evaluate`. It
holds the split scored and whether it was used in training or tuning, the seeds and each metric's
mean, spread and values, the data set's name, size, content fingerprint and Hub revision, the genre
list, the config, the package version and git commit, the hardware and the training times. Someone
comparing two results files needs nothing else (and `check` says when one is not complete).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from genre_hf import reading, staging

SCHEMA = "genre_hf.evaluation.results/1"
MAX_BYTES = 16 * 2**20  # a results file of 500 genres and 20 seeds takes about 2 MB
KINDS = ("train", "benchmark", "evaluate")
# Each metric as results files name it: (flat name, where in a score of `evaluation.score`, higher is better)
METRICS = (
    ("map", ("map",), True),
    ("tuned_micro_f1", ("tuned", "micro_f1"), True),
    ("tuned_macro_f1", ("tuned", "macro_f1"), True),
    ("tuned_weighted_f1", ("tuned", "weighted_f1"), True),
    ("tuned_samples_f1", ("tuned", "samples_f1"), True),
    ("tuned_micro_precision", ("tuned", "micro_precision"), True),
    ("tuned_micro_recall", ("tuned", "micro_recall"), True),
    ("micro_f1", ("micro_f1",), True),
    ("macro_f1", ("macro_f1",), True),
    ("micro_precision", ("micro_precision",), True),
    ("micro_recall", ("micro_recall",), True),
    ("bce", ("bce",), False),
    ("bce_calibrated", ("bce_calibrated",), False),
    ("ece", ("ece",), False),
    ("ece_calibrated", ("ece_calibrated",), False),
    ("classwise_ece", ("classwise_ece",), False),
    ("classwise_ece_calibrated", ("classwise_ece_calibrated",), False),
)
HIGHER_IS_BETTER = {name: higher for name, _, higher in METRICS}
PER_GENRE = ("f1", "ap", "ece")
REQUIRED = {  # key -> type
    "schema": str, "kind": str, "created": str, "split": str, "used_in_training": (bool, type(None)), "tuned_on": str,
    "seeds": list, "data": dict, "genres": list, "config": dict, "titles": dict, "metrics": dict, "per_genre": dict,
    "software": dict, "hardware": dict, "timing": dict,
}
DATA_REQUIRED = ("name", "source", "kind", "movies", "fingerprint", "revision", "split_rule")


def flatten(score: dict) -> dict[str, float]:
    """One model's score (see `evaluation.score`) as {flat metric name: value}; a metric an older
    report lacks is left out."""
    flat = {}
    for name, path, _ in METRICS:
        value = score
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            flat[name] = float(value)
    return flat


def stat(values: list[float | None]) -> dict:
    """{"mean", "std", "values"}; std is the sample standard deviation, None for a single value."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "values": list(values)}
    return {
        "mean": float(np.mean(present)),
        "std": float(np.std(present, ddof=1)) if len(present) > 1 else None,
        "values": [None if v is None else float(v) for v in values],
    }


def summarize(reports: list[dict]) -> tuple[dict, dict]:
    """(metrics, per_genre) over the reports of several runs (one per seed) on the same split.

    metrics: {model or baseline: {flat metric: stat}}; per_genre: {model or baseline: [{genre,
    support, f1: stat, ap: stat, ece: stat}]}.
    """
    names = list({**reports[0]["models"], **reports[0].get("baselines", {})})
    metrics, per_genre = {}, {}
    for name in names:
        scores = [{**report["models"], **report.get("baselines", {})}[name] for report in reports]
        flats = [flatten(score) for score in scores]
        metrics[name] = {metric: stat([flat.get(metric) for flat in flats]) for metric, _, _ in METRICS if metric in flats[0]}
        per_genre[name] = [
            {
                "genre": entry["genre"],
                "support": entry["support"],
                **{key: stat([score["per_genre"][index].get(key) for score in scores]) for key in PER_GENRE},
            }
            for index, entry in enumerate(scores[0]["per_genre"])
        ]
    return metrics, per_genre


def content_fingerprint(splits: dict) -> str:
    """sha256 of what was read: each split's movie ids, overviews and genres, in order.

    Two runs with the same fingerprint saw the same movies in the same splits with the same texts
    and labels; posters are covered by their ids only (hashing every image would cost a second read).
    """
    digest = hashlib.sha256()
    for name in sorted(splits):
        texts = splits[name].texts()
        for movie_id, overview, genres in zip(splits[name].ids, texts["overview"], texts["genres"]):
            digest.update(json.dumps([name, movie_id, overview, sorted(genres)], ensure_ascii=False).encode())
    return digest.hexdigest()


def data_facts(source: str, splits: dict, load_report: dict, source_fingerprint: dict) -> dict:
    """The data set as a results file names it: name, where from, size, fingerprint, revision, split rule."""
    from genre_hf.data.sources import Source

    return {
        "name": Source.of(source).name,
        "source": str(source),
        "kind": source_fingerprint.get("kind"),
        "revision": source_fingerprint.get("revision"),  # a Hub dataset's commit; None elsewhere
        "fingerprint": content_fingerprint(splits),
        "movies": {name: len(features) for name, features in splits.items()},
        "rows_in": load_report.get("rows_in"),
        "skipped": load_report.get("skipped", {}),
        "split_rule": load_report.get("split_rule", ""),
        "notes": load_report.get("notes", []),
    }


def environment() -> dict:
    """{"software": ..., "hardware": ...}: versions, the git commit when run from a checkout, CPUs, GPUs."""
    import keras
    import tensorflow as tf

    import genre_hf

    versions = {"genre_hf": genre_hf.__version__, **_git_state(), "python": platform.python_version(),
                "tensorflow": tf.__version__, "keras": keras.__version__}
    for module in ("numpy", "sklearn", "datasets", "huggingface_hub"):
        versions[module] = __import__(module).__version__
    hardware = {
        "machine": platform.machine(),
        "system": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
    }
    return {"software": versions, "hardware": hardware}


def build(kind: str, *, split: str, used_in_training: bool | None, seeds: list[int], data: dict, config, titles: dict,
          metrics: dict, per_genre: dict, timing: dict, **extra) -> dict:
    """A complete results dict (checked); `extra` adds kind-specific keys (e.g. comparisons)."""
    results = {
        "schema": SCHEMA,
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "split": split,
        "used_in_training": used_in_training,
        "tuned_on": "validation",
        "seeds": list(seeds),
        "data": data,
        "genres": list(config.genres),
        "config": config.to_dict(),
        "titles": titles,
        "metrics": metrics,
        "per_genre": per_genre,
        **environment(),
        "timing": timing,
        **extra,
    }
    check(results)
    return results


def check(results: dict) -> None:
    """A ValueError naming what a results dict lacks or has of the wrong type."""
    problems = [f"{key} is missing" for key in REQUIRED if key not in results]
    problems += [f"{key} must be {_names(kind)}" for key, kind in REQUIRED.items() if key in results and not isinstance(results[key], kind)]
    if not problems:
        if results["schema"] != SCHEMA:
            problems.append(f"schema must be {SCHEMA!r}, not {results['schema']!r}")
        if results["kind"] not in KINDS:
            problems.append(f"kind must be one of {KINDS}, not {results['kind']!r}")
        problems += [f"data.{key} is missing" for key in DATA_REQUIRED if key not in results["data"]]
        runs = len(results["seeds"])
        for name, metrics in results["metrics"].items():
            for metric, value in metrics.items():
                if not isinstance(value, dict) or set(value) != {"mean", "std", "values"}:
                    problems.append(f"metrics.{name}.{metric} must be {{mean, std, values}}")
                elif len(value["values"]) != runs:
                    problems.append(f"metrics.{name}.{metric} has {len(value['values'])} values for {runs} seeds")
        if any(len(rows) != len(results["genres"]) for rows in results["per_genre"].values()):
            problems.append("per_genre must have one row per genre")
    if problems:
        raise ValueError("not a complete results file: " + "; ".join(problems))


def write(results: dict, path: str | Path, reads=()) -> Path:
    """Write a results file, whole (`staging.file`): never over a file that is not a results file."""
    with staging.file(path, reads, is_results, "results file") as partial:
        partial.write_text(reading.json_text(results))
    return Path(path)


def read(path: str | Path) -> dict:
    """A results file, checked; a clear error for one that is not."""
    try:
        results = reading.read_json(path, MAX_BYTES)
    except reading.ReadError as error:
        raise ValueError(f"cannot read the results file {path}: {error}") from None
    check(results)
    return results


def is_results(path: Path, kind: str | None = None) -> bool:
    """Whether `path` is a results file (of `kind`), so a new run may replace it."""
    try:
        results = reading.read_json(path, MAX_BYTES)
    except reading.ReadError:
        return False
    return results.get("schema") == SCHEMA and kind in (None, results.get("kind"))


def _names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _git_state() -> dict:
    """The commit of the checkout the package runs from (None from an installed wheel), and whether it had changes."""
    root = Path(__file__).resolve().parents[2]  # genre_hf/evaluation/results.py -> the checkout
    if not (root / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "git_dirty": None}
    if commit.returncode != 0:
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
