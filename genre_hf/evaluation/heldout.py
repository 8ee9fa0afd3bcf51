"""Score a saved model (folder or Hub repo) on any data the loader accepts: `genre-hf evaluate`.

Without a split every row is scored (a held-out folder has no split). It says which rows it scored
and whether training fitted or tuned on them (`provenance`): scoring every row of the training data
includes the rows the models were fitted and tuned on, and gets a warning. Prints a Markdown table
and writes JSON shaped {"models": {"poster": {...}, "overview": {...}, "fusion": {...}},
"baselines": {...}, "provenance": {...}}, plus a results file (`results.py`) that `--push-results`
adds to a Hub card's model-index. Nothing is tuned here: temperatures and thresholds come from the
model folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from genre_hf.data.cleaning import ColumnNames
from genre_hf.data.loader import all_rows, load_movies
from genre_hf.data.sources import Source
from genre_hf.data.splits import SplitSpec
from genre_hf.evaluation import results
from genre_hf.evaluation.scoring import Baselines, benchmark, to_markdown
from genre_hf.features.cache import bytes_per_movie, cached_features, choose_input, feature_key
from genre_hf.features.featurizer import movie_features
from genre_hf.hub.card import TRAINING_JSON


def evaluate(
    model: str,
    data: str,
    split: str | None = None,
    columns: ColumnNames | None = None,
    output: str | Path | None = None,
    baselines_from: str | None = None,
    plots_dir: str | Path | None = None,
    log=print,
    input: str = "auto",
    cache_dir: str | Path | None = None,
    push_results: str | None = None,
) -> dict:
    """`input` and `cache_dir` as in training: features in memory for small data, else in an on-disk
    cache (the one training built, when it is the same data, split and model). `push_results` (a Hub
    model repo id) adds the figures to that repo card's model-index."""
    from genre_hf.inference.classifier import GenreClassifier

    started = time.perf_counter()
    classifier = GenreClassifier.from_pretrained(model)
    config = classifier.config
    per_movie = bytes_per_movie(classifier.featurizer.input_specs(), config.num_genres)
    input = choose_input(input, Source.of(data).count() if input == "auto" else None, per_movie, log)
    movies, load_report = load_movies(data, columns=columns, split=SplitSpec.from_config(config), streaming=input == "stream")
    log(str(load_report))
    training = _training_report(classifier)
    origin = provenance(split, movies, load_report, data, training)
    log(("WARNING: " if origin["warn"] else "") + origin["note"])
    dataset = all_rows(movies, split)
    if input == "memory":
        features = movie_features(dataset, classifier.featurizer, load_report)
    else:
        key = feature_key(config, classifier.vocabulary, Source.of(data).fingerprint(columns), split or "all")
        features = cached_features(dataset, classifier.featurizer, key, cache_dir, load_report, log)
        if load_report.streamed:
            load_report.rows_kept = {split or "all": len(features)}
            log(str(load_report))
    if len(features) == 0:
        raise ValueError("no usable movies to score")
    baselines = None
    if baselines_from:
        train_movies, _ = load_movies(baselines_from, split=SplitSpec.from_config(config))
        embed = getattr(classifier.encoders["overview"], "sentence_embeddings", None)
        baselines = Baselines(config.genres, config.threshold_prior_strength, embed).fit(train_movies["train"], train_movies["validation"])
    report, raw, calibrated = benchmark(classifier, features, features.texts()["overview"], baselines, split or "all")
    report.update(model=str(model), data=str(data), load_report=load_report.to_dict(), provenance=origin)
    markdown = to_markdown(report)
    log(markdown)
    found = None
    if output or push_results:
        metrics, per_genre = results.summarize([report])
        found = results.build(
            "evaluate", split=split or "all", used_in_training=origin["used_in_training"], seeds=[config.seed],
            data=results.data_facts(data, {split or "all": features}, load_report.to_dict(), Source.of(data).fingerprint(columns)),
            config=config, titles=report["titles"], metrics=metrics, per_genre=per_genre,
            timing={"total_seconds": round(time.perf_counter() - started, 1), "runs": []}, model=str(model), provenance=origin,
        )
    if output:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        output.with_suffix(".md").write_text(markdown)
        results.write(found, results_path(output))
        log(f"Wrote {output}, {output.with_suffix('.md')} and {results_path(output)}")
    if push_results:
        from genre_hf.hub.card import push_results as push

        log(f"Added the results to the model-index of {push_results}: {push(found, push_results)}")
    if plots_dir:
        from genre_hf.evaluation import plots

        folder = Path(plots_dir)
        folder.mkdir(parents=True, exist_ok=True)
        titles = report["titles"]
        plots.precision_recall_curves(calibrated, features.labels, titles, folder / "pr_curves.png")
        plots.per_genre_f1(report, folder / "per_genre_f1.png")
        models = list(classifier.models)
        plots.reliability_diagram(
            {n: raw[n] for n in models}, {n: calibrated[n] for n in models}, features.labels, titles, folder / "reliability.png"
        )
    return report


def results_path(output: Path) -> Path:
    """The results file beside a report: report.json -> report.results.json (never a model folder's results.json)."""
    return output.with_name(f"{output.stem}.{results.RESULTS_FILE}")


def provenance(split: str | None, movies, load_report, data: str, training: dict | None) -> dict:
    """Which rows are scored and whether training fitted or tuned on them.

    On the training data itself the answer is certain. On other data it is certain only for a split
    cut by the same id hash as the training data's (a movie in both falls in the same split of
    each); otherwise it is unknown (None) and said so.
    """
    trained_on = (training or {}).get("data")
    same = trained_on is not None and _identity(trained_on) == _identity(data)
    rule = load_report.split_rule
    same_cut = same or (rule.startswith("cut by a hash") and rule == ((training or {}).get("load_report") or {}).get("split_rule"))
    counts = {name: len(part) for name, part in movies.items()} if not load_report.streamed else {}
    if same:
        where = "the training data"
    else:
        where = f"{data} (not the training data, {trained_on})" if trained_on else f"{data} (the model does not record its training data)"
    if split == "test":
        used = False if same_cut else None
        note = (f"Scoring the test split of {where}: never used for training or tuning." if used is False else
                f"Scoring the split named test of {where}; whether training saw these movies is not known here.")
    elif split in ("train", "validation"):
        role = "the models were fitted on" if split == "train" else "epochs, temperatures and thresholds were tuned on"
        used = True if same else None
        note = (f"Scoring the {split} split of {where}: {role} these rows, so the figures are optimistic; use --split test."
                if same else f"Scoring the {split} split of {where}: if these movies are in the training data, {role} them.")
    else:
        fitted, tuned = counts.get("train", 0), counts.get("validation", 0)
        used = True if same and (fitted or tuned) else (None if fitted or tuned else False)
        if same:
            note = (f"Scoring every row of {where}, including {fitted:,} train rows the models were fitted on and {tuned:,} "
                    "validation rows they were tuned on: the figures are optimistic. Use --split test for held-out figures.")
        elif fitted or tuned:
            note = (f"Scoring every row of {where}: by the model's id split, {fitted:,} fall in train and {tuned:,} in validation; "
                    "if these movies are in the training data, the models were fitted or tuned on them. Use --split test, "
                    "or data the model never saw.")
        else:
            note = f"Scoring every row of {where}: none falls in a train or validation split."
    return {"split": split or "all", "used_in_training": used, "same_data_as_training": same, "note": note, "warn": used is not False}


def _identity(source) -> str:
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


def _training_report(classifier) -> dict | None:
    path = classifier.files_dir / TRAINING_JSON if classifier.files_dir else None
    return json.loads(path.read_text()) if path and path.is_file() else None
