"""Score a saved model (folder or Hub repo) on any data the loader accepts: `genre-hf evaluate`.

Without a split every row is scored (a held-out folder has no split). Prints a Markdown table and
writes JSON shaped {"models": {"poster": {...}, "overview": {...}, "fusion": {...}}, "baselines": {...}}.
Nothing is tuned here: temperatures and thresholds come from the model folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from genre_hf.data import ColumnNames, SplitSpec, all_rows, count_movies, load_movies, source_fingerprint
from genre_hf.evaluation import Baselines, benchmark, to_markdown
from genre_hf.features import movie_features
from genre_hf.streaming import bytes_per_movie, cached_features, choose_input, feature_key


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
) -> dict:
    """`input` and `cache_dir` as in training: features in memory for small data, else in an on-disk
    cache (the one training built, when it is the same data, split and model)."""
    from genre_hf.hub import GenreClassifier

    classifier = GenreClassifier.from_pretrained(model)
    config = classifier.config
    per_movie = bytes_per_movie(classifier.featurizer.input_specs(), config.num_genres)
    input = choose_input(input, count_movies(data) if input == "auto" else None, per_movie, log)
    movies, load_report = load_movies(data, columns=columns, split=SplitSpec.from_config(config), streaming=input == "stream")
    log(str(load_report))
    dataset = all_rows(movies, split)
    if input == "memory":
        features = movie_features(dataset, classifier.featurizer, load_report)
    else:
        key = feature_key(config, classifier.vocabulary, source_fingerprint(data, columns), split or "all")
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
    report.update(model=str(model), data=str(data), load_report=load_report.to_dict())
    markdown = to_markdown(report)
    log(markdown)
    if output:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        output.with_suffix(".md").write_text(markdown)
        log(f"Wrote {output} and {output.with_suffix('.md')}")
    if plots_dir:
        from genre_hf import plots

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
