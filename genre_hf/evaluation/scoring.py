"""Score the three models (and the baselines) on one split, with the local `evaluate` metric.

For every model: BCE, micro precision/recall/F1 and macro/weighted/samples F1 at 0.5 (on the raw
outputs, as the coursework reported them) and at the tuned thresholds (on the calibrated outputs, as
`predict` uses them), mAP, calibration error before and after temperature scaling (pooled over every
movie x genre cell, and class-wise: per genre, averaged over genres), and a per-genre table.
"""

from __future__ import annotations

import numpy as np

from genre_hf.evaluation.baselines import BASELINE_NAMES, Baselines
from genre_hf.evaluation.metrics import load_metric
from genre_hf.features.featurizer import MovieFeatures
from genre_hf.training.calibration import calibrate

F1_KEYS = ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "weighted_f1", "samples_f1")


def headline_split(reports: dict) -> str:
    """The split a run is judged on: test when the data has one, else validation (which was tuned on)."""
    return "test" if "test" in reports else "validation"


def score(raw: np.ndarray, labels: np.ndarray, calibration: dict, genres: list[str]) -> dict:
    """All figures of one model on one split."""
    metric = load_metric()
    thresholds = [calibration["thresholds"][genre] for genre in genres]
    calibrated = calibrate(raw, calibration, genres)
    at_half = metric.compute(predictions=raw, references=labels, thresholds=0.5)
    tuned = metric.compute(predictions=calibrated, references=labels, thresholds=thresholds, genres=genres, per_genre=True,
                           max_genres=calibration.get("max_genres"))
    return {
        **at_half,
        "bce_calibrated": tuned["bce"],
        "ece_calibrated": tuned["ece"],
        "classwise_ece_calibrated": tuned["classwise_ece"],
        "temperature": calibration["temperature"],
        "tuned": {**{key: tuned[key] for key in F1_KEYS}, "genres_per_movie": tuned["predicted_cardinality"]},
        "per_genre": tuned["per_genre"],
    }


def score_split(network, genres: list[str], calibration: dict, titles: dict[str, str], features: MovieFeatures,
                baselines: Baselines | None = None, split: str = "all"):
    """(report, raw, calibrated): the models' (and baselines') scores on one split's features, with
    their raw and calibrated probabilities (for the plots). `network` is the models (a
    `GenreNetwork`) and `genres` their outputs' genres, `calibration` thresholds.json's models,
    `titles` how reports name them."""
    raw = network.raw_outputs(features.inputs)
    calibrations = dict(calibration)
    if baselines is not None:
        raw.update(baselines.probabilities(features.texts()["overview"]))
        calibrations.update(baselines.calibration)
    scores = {name: score(probabilities, features.labels, calibrations[name], genres) for name, probabilities in raw.items()}
    report = {
        "split": split,
        "movies": len(features),
        "genres": genres,
        "titles": {**titles, **{name: BASELINE_NAMES[name] for name in scores if name in BASELINE_NAMES}},
        "support": {genre: int(n) for genre, n in zip(genres, features.labels.sum(axis=0))},
        "models": {name: scores[name] for name in network.models},
        "baselines": {name: scores[name] for name in scores if name not in network.models},
    }
    calibrated = {name: calibrate(p, calibrations[name], genres) for name, p in raw.items()}
    return report, raw, calibrated


def report_markdown(report: dict) -> str:
    """The benchmark as Markdown tables: summary, calibration, per-genre F1 and AP."""
    rows = {**report["models"], **report.get("baselines", {})}
    titles = report["titles"]
    lines = [
        f"Scored on {report['movies']:,} movies ({report['split']} split).",
        "",
        "| model | BCE | P (0.5) | R (0.5) | micro F1 (0.5) | micro F1 (tuned) | macro F1 (tuned) | weighted F1 (tuned) | "
        "samples F1 (tuned) | mAP | ECE | ECE (calibrated) | class-wise ECE | class-wise ECE (calibrated) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        t = r["tuned"]
        lines.append(
            f"| {titles[name]} | {r['bce']:.4f} | {r['micro_precision']:.3f} | {r['micro_recall']:.3f} | "
            f"{r['micro_f1']:.3f} | {t['micro_f1']:.3f} | {t['macro_f1']:.3f} | {t['weighted_f1']:.3f} | "
            f"{t['samples_f1']:.3f} | {_figure(r['map'], 3)} | {r['ece']:.4f} | {r['ece_calibrated']:.4f} | "
            f"{_figure(r.get('classwise_ece'))} | {_figure(r.get('classwise_ece_calibrated'))} |"
        )
    names = list(rows)
    lines += [
        "",
        "ECE is pooled over every movie x genre cell, where easy negatives dominate; class-wise ECE is each "
        "genre's own, averaged over the genres.",
        "",
        "Per genre (tuned thresholds): F1 / AP",
        "",
        "| genre | support | " + " | ".join(titles[n] for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for index, genre in enumerate(report["genres"]):
        cells = []
        for name in names:
            entry = rows[name]["per_genre"][index]
            ap = "n/a" if entry["ap"] is None else f"{entry['ap']:.2f}"
            cells.append(f"{entry['f1']:.2f} / {ap}")
        lines.append(f"| {genre} | {report['support'][genre]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SCORE_FIGURES = ("bce", "micro_precision", "micro_recall", "micro_f1", "map", "ece", "ece_calibrated")
TUNED_FIGURES = ("micro_f1", "macro_f1", "weighted_f1", "samples_f1")


def report_problem(report) -> str | None:
    """What makes `report` (a `score_split` report read back from a file) unfit for `report_markdown`
    and the app's tables, or None: each key they read there, of the type they read."""
    def number(value, optional=False):
        return (optional and value is None) or (isinstance(value, (int, float)) and not isinstance(value, bool))

    if not isinstance(report, dict):
        return "a split's report must be a JSON object"
    rows = {**(report.get("models") or {}), **(report.get("baselines") or {})} if isinstance(report.get("models"), dict) else None
    genres, titles, support = report.get("genres"), report.get("titles"), report.get("support")
    if (not rows or not isinstance(report.get("baselines", {}), dict) or not isinstance(report.get("split"), str)
            or not isinstance(report.get("movies"), int) or not isinstance(genres, list) or not all(isinstance(g, str) for g in genres)
            or not isinstance(titles, dict) or not isinstance(support, dict)):
        return "a split's report needs models, titles, genres, support, split and movies of their types"
    if not all(isinstance(titles.get(name), str) for name in rows) or not all(isinstance(support.get(g), int) for g in genres):
        return "a split's report needs a title for each model and a support for each genre"
    for name, row in rows.items():
        tuned = row.get("tuned") if isinstance(row, dict) else None
        per_genre = row.get("per_genre") if isinstance(row, dict) else None
        if (not isinstance(tuned, dict) or not all(number(row.get(key), key == "map") for key in SCORE_FIGURES)
                or not all(number(tuned.get(key)) for key in TUNED_FIGURES) or not number(tuned.get("genres_per_movie"), True)
                or not number(row.get("label_cardinality"), tuned.get("genres_per_movie") is None)
                or not number(row.get("classwise_ece"), True) or not number(row.get("classwise_ece_calibrated"), True)
                or not isinstance(per_genre, list) or len(per_genre) != len(genres)
                or not all(isinstance(e, dict) and number(e.get("f1")) and number(e.get("ap"), True) for e in per_genre)):
            return "a model's scores lack a figure, or have one that is not a number"
    return None


def _figure(value, digits: int = 4) -> str:
    """A figure, or n/a for one a report of an older genre_hf did not record."""
    return "n/a" if value is None else f"{value:.{digits}f}"
