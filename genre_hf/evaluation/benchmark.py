"""`genre-hf benchmark`: every model and baseline trained with several seeds and scored on the test split.

Each seed runs what `genre-hf train` runs (`experiment.train_and_score`: train, calibrate and tune on
validation, score on test), without saving a model folder. The report gives each metric's mean ±
standard deviation over the seeds, per-genre tables, plots and a `results.json`. A lead smaller than
the spread of the difference (sqrt(std_a² + std_b²): how much one run of each differs by chance) is
called a tie, not a win. The baselines have no seed (TF-IDF and logistic regression are
deterministic): they are fitted once, and their spread is 0.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from genre_hf import staging
from genre_hf.config import GenreConfig
from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.sources import Source
from genre_hf.evaluation import plots, results
from genre_hf.evaluation.baselines import BASELINE_NAMES
from genre_hf.evaluation.experiment import run_timing, train_and_score
from genre_hf.evaluation.files import BENCHMARK_FOLDER, BENCHMARK_MD, RESULTS_FILE, check_benchmark_folder, is_benchmark_folder
from genre_hf.evaluation.scoring import headline_split
from genre_hf.training.prepare import load_training_data
from genre_hf.training.trainer import TrainOptions

DEFAULT_SEEDS = 3
HEADLINE = (  # (flat metric, column title): the summary table and the "who leads" verdicts
    ("map", "mAP"),
    ("tuned_micro_f1", "micro F1 (tuned)"),
    ("tuned_macro_f1", "macro F1 (tuned)"),
    ("tuned_samples_f1", "samples F1 (tuned)"),
    ("micro_f1", "micro F1 @0.5"),
    ("bce_calibrated", "BCE (calibrated)"),
    ("ece_calibrated", "ECE (calibrated)"),
    ("classwise_ece_calibrated", "class-wise ECE (calibrated)"),
)


def run_benchmark(data: str, out: str | Path, *, seeds: int = DEFAULT_SEEDS, config: GenreConfig | None = None,
                  columns: ColumnNames | None = None, options: TrainOptions | None = None, log=print) -> dict:
    """Train and score `seeds` runs (seeds training.seed, training.seed + 1, ...); write results.json,
    benchmark.md and plots into `out`; return the results."""
    if seeds < 2:
        raise ValueError(f"a benchmark needs at least 2 seeds to measure a spread, not {seeds}")
    check_benchmark_folder(out, data)  # before hours of training
    started = time.perf_counter()
    config = config or GenreConfig()
    seed_list = [config.training.seed + offset for offset in range(seeds)]
    source, options = Source.of(data), options or TrainOptions()
    movies, load_report, input = load_training_data(source, config, columns, options.input, log)
    options = dataclasses.replace(options, input=input)
    fingerprint = source.fingerprint(columns)
    reports, timing, baselines, first = [], [], None, None
    for index, seed in enumerate(seed_list):
        log(f"\n== Seed {seed} ({index + 1} of {seeds}) ==")
        scored = train_and_score(dataclasses.replace(config, training=dataclasses.replace(config.training, seed=seed)), movies, log=log, options=options, source=fingerprint,
                                 report=load_report if first is None else None, baselines=baselines)
        split = headline_split(scored.reports)
        baselines = scored.baselines
        reports.append(scored.reports[split])
        timing.append(run_timing(scored, seed))
        if first is None:  # what the results and plots need of one run; the networks are not kept
            first = {"config": scored.run.config, "scored": scored.scored[split],
                     "data": results.data_facts(source, scored.run.prepared.splits, load_report.to_dict(), fingerprint)}
        del scored
        _release_models()
    metrics, per_genre = results.summarize(reports)
    titles = reports[0]["titles"]
    found = results.build(
        "benchmark", split=split, used_in_training=split != "test", seeds=seed_list, data=first["data"], config=first["config"],
        titles=titles, metrics=metrics, per_genre=per_genre,
        timing={"total_seconds": round(time.perf_counter() - started, 1), "runs": timing},
        movies_scored=reports[0]["movies"], comparisons=comparisons(metrics, titles),
    )
    markdown = benchmark_markdown(found)
    with staging.folder(out, [data], is_benchmark_folder, BENCHMARK_FOLDER) as staged:  # the folder appears whole, replacing a benchmark's
        results.write(found, staged / RESULTS_FILE)
        (staged / BENCHMARK_MD).write_text(markdown)
        write_plots(staged, found, first["scored"], log)
    out = Path(out)
    log("\n" + markdown)
    log(f"Wrote {out / RESULTS_FILE}, {out / BENCHMARK_MD} and plots ({found['timing']['total_seconds']:.0f} s in all)")
    return found


def verdict(a: dict, b: dict, higher_is_better: bool) -> str:
    """"win", "loss" or "tie" for a against b (each {"mean", "std"}): a tie when the difference of
    the means is no larger than sqrt(std_a² + std_b²)."""
    difference = (a["mean"] - b["mean"]) * (1 if higher_is_better else -1)
    if abs(difference) <= math.hypot(a["std"] or 0.0, b["std"] or 0.0):
        return "tie"
    return "win" if difference > 0 else "loss"


def comparisons(metrics: dict, titles: dict) -> list[dict]:
    """Per headline metric: the leader (best mean) and, for each other model or baseline, whether
    it is tied with the leader or behind it."""
    found = []
    for metric, _ in HEADLINE:
        higher = results.HIGHER_IS_BETTER[metric]
        present = [name for name in metrics if metrics[name].get(metric, {}).get("mean") is not None]
        if not present:
            continue
        ranked = sorted(present, key=lambda name: metrics[name][metric]["mean"], reverse=higher)
        leader = metrics[ranked[0]][metric]
        rows = [{"model": name, "title": titles.get(name, name), "mean": metrics[name][metric]["mean"], "std": metrics[name][metric]["std"],
                 "against_leader": "leader" if name == ranked[0] else ("tie" if verdict(leader, metrics[name][metric], higher) == "tie" else "behind")}
                for name in ranked]
        found.append({"metric": metric, "higher_is_better": higher, "leader": ranked[0], "ranking": rows})
    return found


def benchmark_markdown(found: dict) -> str:
    """The benchmark's tables: summary (mean ± std), who leads, per-genre F1, AP and calibration error, time."""
    titles, metrics, seeds = found["titles"], found["metrics"], found["seeds"]
    names = list(metrics)
    lines = [
        f"# Benchmark: {found['data']['name']}, {found['split']} split ({found['movies_scored']:,} movies), "
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))})",
        "",
        "Each figure is the mean ± standard deviation over the seeds. Epochs, temperatures and thresholds were "
        f"chosen on the validation split; the {found['split']} split was scored once per seed"
        + (", never tuned on." if not found["used_in_training"] else " (it was tuned on: figures are optimistic).")
        + " The baselines have no seed: fitted once, spread 0.",
        "",
        "| model | " + " | ".join(title for _, title in HEADLINE) + " |",
        "|---|" + "---|" * len(HEADLINE),
    ]
    for name in names:
        cells = [_pm(metrics[name].get(metric)) for metric, _ in HEADLINE]
        lines.append(f"| {titles[name]} | " + " | ".join(cells) + " |")
    lines += ["", "## Who leads", "",
              "A lead no larger than the spread of the difference, sqrt(std_a² + std_b²), is a tie, not a win.", "",
              "| metric | leader | tied with the leader | behind the leader |", "|---|---|---|---|"]
    shown = dict(HEADLINE)
    for row in found.get("comparisons", []):
        leader = row["ranking"][0]
        tied = [f"{r['title']} ({_pm(r)})" for r in row["ranking"] if r["against_leader"] == "tie"]
        behind = [f"{r['title']} ({_pm(r)})" for r in row["ranking"] if r["against_leader"] == "behind"]
        lines.append(f"| {shown[row['metric']]} | {leader['title']} ({_pm(leader)}) | {', '.join(tied) or '-'} | {', '.join(behind) or '-'} |")
    for key, title in (("f1", "F1 at the tuned thresholds"), ("ap", "average precision"), ("ece", "calibration error (calibrated)")):
        lines += ["", f"## Per genre: {title}, mean ± std", "", "| genre | support | " + " | ".join(titles[n] for n in names) + " |",
                  "|---|---|" + "---|" * len(names)]
        for index, genre in enumerate(found["genres"]):
            rows = [found["per_genre"][name][index] for name in names]
            lines.append(f"| {genre} | {rows[0]['support']} | " + " | ".join(_pm(row[key], 2 if key != "ece" else 3) for row in rows) + " |")
    lines += ["", "## Time", "", "| seed | seconds | features | " + " | ".join(titles[n] for n in found["timing"]["runs"][0]["fit_seconds"]) + " |",
              "|---|---|---|" + "---|" * len(found["timing"]["runs"][0]["fit_seconds"])]
    for run in found["timing"]["runs"]:
        lines.append(f"| {run['seed']} | {run['seconds']:.0f} | {run['prepare_seconds']:.0f} | " + " | ".join(f"{s:.0f}" for s in run["fit_seconds"].values()) + " |")
    hardware = found["hardware"]
    lines += ["", f"{found['timing']['total_seconds']:.0f} s in all on {hardware['cpus_usable']} of {hardware['cpu_count']} CPU cores "
              f"({hardware['cpu_model']}), {', '.join(hardware['gpus']) or 'no GPU'}; TensorFlow {found['software']['tensorflow']}, "
              f"genre_hf {found['software']['genre_hf']} ({_commit(found['software'])})."]
    return "\n".join(lines) + "\n"


def write_plots(out: Path, found: dict, first: tuple, log=print) -> None:
    """Summary and per-genre bars with their spread; PR curves and reliability of the first seed."""
    if not plots.available():
        log(plots.SKIPPED)
        return
    titles, names = found["titles"], list(found["metrics"])
    series = {titles[n]: ([found["metrics"][n][m]["mean"] for m, _ in HEADLINE[:5]], [found["metrics"][n][m]["std"] for m, _ in HEADLINE[:5]])
              for n in names}
    plots.bars([title for _, title in HEADLINE[:5]], series, "score (mean ± std over seeds)", "Test split, all seeds", out / "summary.png")
    for key, label in (("f1", "F1 (tuned thresholds)"), ("ap", "average precision"), ("ece", "calibration error (calibrated)")):
        series = {titles[n]: ([row[key]["mean"] or 0.0 for row in found["per_genre"][n]], [row[key]["std"] for row in found["per_genre"][n]])
                  for n in names}
        plots.bars(found["genres"], series, f"{label}, mean ± std", f"Per genre: {label}", out / f"per_genre_{key}.png")
    labels, raw, calibrated = first
    models = [n for n in names if n not in BASELINE_NAMES]
    plots.precision_recall_curves(calibrated, labels, titles, out / plots.PLOT_FILES["pr"])
    plots.reliability_diagram({n: raw[n] for n in models}, {n: calibrated[n] for n in models}, labels, titles, out / plots.PLOT_FILES["reliability"])


def _commit(software: dict) -> str:
    if not software.get("git_commit"):
        return "not a git checkout"
    return f"commit {software['git_commit'][:12]}" + (" with uncommitted changes" if software.get("git_dirty") else "")


def _pm(value: dict | None, digits: int = 3) -> str:
    if not value or value.get("mean") is None:
        return "n/a"
    spread = "" if value.get("std") is None else f" ± {value['std']:.{digits}f}"
    return f"{value['mean']:.{digits}f}{spread}"


def _release_models() -> None:
    """Free the last seed's Keras graph before the next one is built."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
