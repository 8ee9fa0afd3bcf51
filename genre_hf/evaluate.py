"""Score a saved model (folder or Hub repo) on any data the loader accepts: `genre-hf evaluate`.

Without a split every row is scored (a held-out folder has no split). Prints a Markdown table and
writes JSON shaped {"models": {"poster": {...}, "overview": {...}, "fusion": {...}}, "baselines": {...}}.
Nothing is tuned here: temperatures and thresholds come from the model folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from genre_hf.data import ColumnNames, SplitSpec, all_rows, load_movies
from genre_hf.evaluation import Baselines, benchmark, to_markdown
from genre_hf.features import movie_features


def evaluate(
    model: str,
    data: str,
    split: str | None = None,
    columns: ColumnNames | None = None,
    output: str | Path | None = None,
    baselines_from: str | None = None,
    plots_dir: str | Path | None = None,
    log=print,
) -> dict:
    from genre_hf.hub import GenreClassifier

    classifier = GenreClassifier.from_pretrained(model)
    config = classifier.config
    movies, load_report = load_movies(data, columns=columns, split=SplitSpec.from_config(config))
    log(str(load_report))
    dataset = all_rows(movies, split)
    if len(dataset) == 0:
        raise ValueError("no usable movies to score")
    features = movie_features(dataset, classifier.featurizer)
    baselines = None
    if baselines_from:
        train_movies, _ = load_movies(baselines_from, split=SplitSpec.from_config(config))
        embed = getattr(classifier.encoders["overview"], "sentence_embeddings", None)
        baselines = Baselines(config.genres, config.threshold_prior_strength, embed).fit(train_movies["train"], train_movies["validation"])
    report, raw, calibrated = benchmark(classifier, features, list(dataset["overview"]), baselines, split or "all")
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
