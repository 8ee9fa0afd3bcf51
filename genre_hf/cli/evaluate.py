"""`genre-hf evaluate`: score a saved model (folder or Hub repo) on any data; nothing is tuned.

Prints a Markdown table and writes JSON shaped {"models": {"poster": {...}, "overview": {...},
"fusion": {...}}, "baselines": {...}, "provenance": {...}}, plus a results file that
`--push-results` adds to a Hub card's model-index. `evaluate` is the same from Python.
"""

from __future__ import annotations

import json
from pathlib import Path

from genre_hf.cli._common import add_data_argument, add_input_arguments, check_data, check_local_model, model_source
from genre_hf.data.cleaning import ColumnNames
from genre_hf.hub.lookup import RULE

NAME = "evaluate"
TENSORFLOW = True
HELP = "score a model on any data (held out: nothing is tuned)"
DESCRIPTION = "Score a model on any data. " + RULE
ENVIRONMENT = ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME",
               "HF_HUB_OFFLINE")


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None, help="Hub repo id or folder (see above)")
    add_data_argument(parser, "upstream folder, Parquet file, save_to_disk folder or Hub dataset id")
    parser.add_argument("--split", default=None,
                        help="score one split (test: never trained or tuned on); default: every row, training rows included")
    parser.add_argument("--columns", default=None, help="column mapping, e.g. overview=plot,poster=image")
    parser.add_argument("--output", default=None, help="write the JSON report here (and a .md beside it)")
    parser.add_argument("--baselines-from", default=None, help="training data: fit the baselines on its train split")
    parser.add_argument("--plots", default=None, help="write PR curves, per-genre F1 and reliability PNGs here")
    parser.add_argument("--push-results", metavar="REPO_ID", default=None,
                        help="add the models' figures to this Hub model repo card's model-index (needs a token with write access)")
    add_input_arguments(parser)


def check(args) -> None:
    check_data(args.data, args.split)
    check_local_model(model_source(args))


def run(args) -> int:
    evaluate(model_source(args), args.data, split=args.split, columns=ColumnNames.parse(args.columns), output=args.output,
             baselines_from=args.baselines_from, plots_dir=args.plots, input=args.input, cache_dir=args.cache_dir,
             push_results=args.push_results)
    return 0


def evaluate(model: str, data: str, split: str | None = None, columns: ColumnNames | None = None, output: str | Path | None = None,
             baselines_from: str | None = None, plots_dir: str | Path | None = None, log=print, input: str = "auto",
             cache_dir: str | Path | None = None, push_results: str | None = None) -> dict:
    """Load `model`, score it on `data` (`evaluation.heldout`), print the tables and write what was
    asked: the report (`output`), plots (`plots_dir`), the figures on a Hub card (`push_results`)."""
    from genre_hf.evaluation import plots, results
    from genre_hf.evaluation.heldout import evaluate_classifier
    from genre_hf.evaluation.scoring import report_markdown
    from genre_hf.hub.folder import RESULTS_FILE, TRAINING_JSON
    from genre_hf.inference.classifier import GenreClassifier

    classifier = GenreClassifier.from_pretrained(model)
    record = classifier.files_dir / TRAINING_JSON if classifier.files_dir else None
    training = json.loads(record.read_text()) if record and record.is_file() else None
    found = evaluate_classifier(classifier, data, model=str(model), split=split, columns=columns, baselines_from=baselines_from,
                                training=training, log=log, input=input, cache_dir=cache_dir)
    markdown = report_markdown(found.report)
    log(markdown)
    if output:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(found.report, indent=2) + "\n")
        output.with_suffix(".md").write_text(markdown)
        beside = output.with_name(f"{output.stem}.{RESULTS_FILE}")  # report.json -> report.results.json, never a folder's results.json
        results.write(found.results, beside)
        log(f"Wrote {output}, {output.with_suffix('.md')} and {beside}")
    if push_results:
        from genre_hf.hub.card import push_results as push

        log(f"Added the results to the model-index of {push_results}: {push(found.results, push_results)}")
    if plots_dir:
        if plots.available():
            Path(plots_dir).mkdir(parents=True, exist_ok=True)
            plots.split_plots(Path(plots_dir), found.report, found.labels, found.raw, found.calibrated)
        else:
            log(plots.SKIPPED)
    return found.report
