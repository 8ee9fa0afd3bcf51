"""The names of the report files evaluation writes: into a model folder (beside the model's own files,
listed with them in `hub/folder.py`) and into a benchmark's output folder; and how a later run knows
a benchmark's folder (the only folder of someone's it replaces)."""

from pathlib import Path

from genre_hf import staging

BENCHMARK_JSON = "benchmark.json"  # {split: scoring.score_split's report}
BENCHMARK_MD = "benchmark.md"  # the same as tables (a benchmark folder's: benchmark.benchmark_markdown)
TRAINING_JSON = "training_report.json"  # experiment.training_report
RESULTS_FILE = "results.json"  # results.build: a run's figures with everything needed to read them
PLOT_FILES = {"training": "training_curves.png", "pr": "pr_curves.png", "per_genre": "per_genre_f1.png", "reliability": "reliability.png"}
BENCHMARK_FOLDER = "genre_hf benchmark folder"


def is_benchmark_folder(folder: Path) -> bool:
    """Whether `folder` holds a benchmark's output (its results file says so): one a new run may replace."""
    from genre_hf.evaluation.results import is_results

    return is_results(folder / RESULTS_FILE, kind="benchmark")


def check_benchmark_folder(out: str | Path, data: str) -> Path:
    """Refuse, before any work, a benchmark's output folder that is the data or in it, a file, or a
    folder that holds anything but a benchmark's output (`staging.check_folder`)."""
    return staging.check_folder(out, [data], is_benchmark_folder, BENCHMARK_FOLDER)

