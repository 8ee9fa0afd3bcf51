"""`genre-hf evaluate`: score a saved model (folder or Hub repo) on any data; nothing is tuned.

Prints a Markdown table and writes JSON shaped {"models": {"poster": {...}, "overview": {...},
"fusion": {...}}, "baselines": {...}, "provenance": {...}}, plus a results file that
`--push-results` adds to a Hub card's model-index. `evaluate` is the same from Python.
"""

from __future__ import annotations

import re
from pathlib import Path

from genre_hf import reading, staging
from genre_hf.cli._common import (
    HUB_ENVIRONMENT,
    add_data_argument,
    add_input_arguments,
    check_data,
    check_local_model,
    model_source,
)
from genre_hf.data.cleaning import ColumnNames
from genre_hf.evaluation.files import PLOT_FILES, RESULTS_FILE
from genre_hf.hub.lookup import RULE

NAME = "evaluate"
TENSORFLOW = True
HELP = "score a model on any data (held out: nothing is tuned)"
DESCRIPTION = "Score a model on any data. " + RULE
REPORT_BYTES = 64 * reading.MB  # a report of every split, 500 genres and the load report: a few MB
ENVIRONMENT = ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_CACHE", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME",
               "HF_HUB_OFFLINE") + HUB_ENVIRONMENT


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
    check_outputs(args.output, args.plots, reads=[args.data, model_source(args), args.baselines_from])
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
    from genre_hf.hub.folder import read_training_record
    from genre_hf.inference.classifier import GenreClassifier

    reads = [data, model, baselines_from]
    check_outputs(output, plots_dir, reads)  # before the model loads: never the data, the model or someone's file
    classifier = GenreClassifier.from_pretrained(model)
    reads.append(classifier.files_dir)  # a Hub model's folder in the cache
    check_outputs(output, plots_dir, reads)
    training = read_training_record(classifier.files_dir) if classifier.files_dir else None
    found = evaluate_classifier(classifier, data, model=str(model), split=split, columns=columns, baselines_from=baselines_from,
                                training=training, log=log, input=input, cache_dir=cache_dir)
    markdown = report_markdown(found.report)
    log(markdown)
    if output:
        report_path, markdown_path, results_path = report_files(output)
        with staging.file(report_path, reads, is_report, "genre_hf evaluation report") as partial:
            partial.write_text(reading.json_text(found.report))
        with staging.file(markdown_path, reads, is_report_markdown, "genre_hf evaluation report") as partial:
            partial.write_text(markdown)
        results.write(found.results, results_path, reads)
        log(f"Wrote {report_path}, {markdown_path} and {results_path}")
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


def report_files(output: str | Path) -> tuple[Path, Path, Path]:
    """The files `--output` names: the JSON report, its Markdown beside it, and its results file
    (report.json -> report.md, report.results.json: never a folder's results.json)."""
    output = Path(output)
    return output, output.with_suffix(".md"), output.with_name(f"{output.stem}.{RESULTS_FILE}")


def check_outputs(output, plots_dir, reads) -> None:
    """Refuse, before any work, a report file or plot that would be an input, lie in one, or replace a
    file that is not one of ours (`staging.check_file`)."""
    from genre_hf.evaluation import plots, results

    if output:
        report_path, markdown_path, results_path = report_files(output)
        staging.check_file(report_path, reads, is_report, "genre_hf evaluation report")
        staging.check_file(markdown_path, reads, is_report_markdown, "genre_hf evaluation report")
        staging.check_file(results_path, reads, results.is_results, "results file")
    if plots_dir:
        staging.check_inputs(staging.destination(plots_dir), reads)
        for name in PLOT_FILES.values():
            if name != PLOT_FILES["training"]:
                staging.check_file(Path(plots_dir) / name, reads, plots.is_plot, "plot")


def is_report(path: Path) -> bool:
    """Whether `path` is a JSON report `evaluate` wrote, so a new run may replace it."""
    try:
        report = reading.read_json(path, REPORT_BYTES)
    except reading.ReadError:
        return False
    return {"models", "provenance", "load_report"} <= set(report)


def is_report_markdown(path: Path) -> bool:
    """Whether `path` is the Markdown of a report (`scoring.report_markdown`'s first line), so a new run may replace it."""
    with open(path, "rb") as handle:
        first = handle.read(200).split(b"\n", 1)[0].decode("utf-8", "replace")
    return re.fullmatch(r"Scored on [\d,]+ movies \(.+ split\)\.", first) is not None
