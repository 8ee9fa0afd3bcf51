"""Score a saved model folder on any data the loader accepts.

    python -m genre_hf.evaluate --model artifacts/model --data path/to/heldout [--split NAME]
        [--output report.json] [--baselines-from TRAINING_DATA] [--plots DIR]

Without --split every row is scored (a held-out folder has no split). Prints a Markdown table and
writes JSON shaped {"models": {"cnn": {...}, "lstm": {...}, "fusion": {...}}, "baselines": {...}}.
Nothing is tuned here: temperatures and thresholds come from the model folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved model folder")
    parser.add_argument("--data", required=True, help="upstream folder, Parquet file, save_to_disk folder or Hub dataset id")
    parser.add_argument("--split", default=None, help="score one split (e.g. validation); default: every row")
    parser.add_argument("--columns", default=None, help="column mapping, e.g. overview=plot,poster=image")
    parser.add_argument("--output", default=None, help="write the JSON report here (and a .md beside it)")
    parser.add_argument("--baselines-from", default=None, help="training data: fit the two baselines on its train split")
    parser.add_argument("--plots", default=None, help="write PR curves, per-genre F1 and reliability PNGs here")
    args = parser.parse_args(argv)
    try:
        evaluate(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def evaluate(args) -> dict:
    from genre_hf import features
    from genre_hf.data import ColumnNames, SplitSpec, all_rows, load_movies
    from genre_hf.evaluation import Baselines, benchmark, to_markdown
    from genre_hf.predictor import GenrePredictor

    predictor = GenrePredictor.load(args.model)
    config = predictor.config
    movies, load_report = load_movies(args.data, columns=ColumnNames.parse(args.columns), split=SplitSpec.from_config(config))
    print(load_report)
    dataset = all_rows(movies, args.split)
    if len(dataset) == 0:
        raise ValueError("no usable movies to score")
    arrays = features.movie_arrays(dataset, config, predictor.vectorizer)
    baselines = None
    if args.baselines_from:
        train_movies, _ = load_movies(args.baselines_from, split=SplitSpec.from_config(config))
        baselines = Baselines(config.genres, config.threshold_prior_strength).fit(
            train_movies["train"], train_movies["validation"]
        )
    report, raw, calibrated = benchmark(predictor, arrays, list(dataset["overview"]), baselines)
    report.update(model=str(args.model), data=str(args.data), split=args.split or "all", load_report=load_report.to_dict())
    markdown = to_markdown(report)
    print(markdown)
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        output.with_suffix(".md").write_text(markdown)
        print(f"Wrote {output} and {output.with_suffix('.md')}")
    if args.plots:
        from genre_hf import plots

        folder = Path(args.plots)
        folder.mkdir(parents=True, exist_ok=True)
        plots.precision_recall_curves(calibrated, arrays.labels, folder / "pr_curves.png")
        plots.per_genre_f1(report, folder / "per_genre_f1.png")
        models = list(predictor.models)
        plots.reliability_diagram(
            {n: raw[n] for n in models}, {n: calibrated[n] for n in models}, arrays.labels, folder / "reliability.png"
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
