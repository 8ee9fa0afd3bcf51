"""The names of the report files evaluation writes: into a model folder (beside the model's own files,
listed with them in `hub/folder.py`) and into a benchmark's output folder."""

BENCHMARK_JSON = "benchmark.json"  # {split: scoring.score_split's report}
BENCHMARK_MD = "benchmark.md"  # the same as tables (a benchmark folder's: benchmark.benchmark_markdown)
TRAINING_JSON = "training_report.json"  # experiment.training_report
RESULTS_FILE = "results.json"  # results.build: a run's figures with everything needed to read them
PLOT_FILES = {"training": "training_curves.png", "pr": "pr_curves.png", "per_genre": "per_genre_f1.png", "reliability": "reliability.png"}
