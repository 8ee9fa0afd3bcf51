"""`genre-hf predict`: every movie of a data source into a Parquet, CSV or JSON Lines file."""

from __future__ import annotations

import sys

from genre_hf.cli._common import HUB_ENVIRONMENT, add_data_argument, check_data, check_local_model, model_source
from genre_hf.data.cleaning import ColumnNames
from genre_hf.hub.lookup import RULE

NAME = "predict"
TENSORFLOW = False  # the models answer on LiteRT
HELP = "predict every movie of a data source into a Parquet, CSV or JSON Lines file"
DESCRIPTION = "Predict every movie of a data source into a file (by extension: .parquet, .csv, .jsonl). " + RULE
ENVIRONMENT = ("GENRE_HF_MODEL", "GENRE_HF_DATA", "GENRE_HF_PRESET_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE") + HUB_ENVIRONMENT


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None, help="Hub repo id or folder (see above)")
    add_data_argument(parser, "upstream folder, Parquet file, save_to_disk folder or Hub dataset id (streamed)")
    parser.add_argument("--output", required=True, help="the file to write: .parquet, .csv or .jsonl")
    parser.add_argument("--split", default=None, help="predict one split only; default: every row")
    parser.add_argument("--columns", default=None, help="column mapping, e.g. id=movie_id,overview=plot,poster=image")
    parser.add_argument("--chunk-size", type=int, default=256, help="movies read and predicted at a time (bounds memory)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check(args) -> None:
    from genre_hf.inference.batch import check_output

    check_output(args.output, reads=[args.data, model_source(args)])  # never the data, the model or someone's file
    check_data(args.data, args.split)
    check_local_model(model_source(args))
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be at least 1 movie, not {args.chunk_size}")


def run(args) -> int:
    from genre_hf.inference.batch import predict_file
    from genre_hf.inference.classifier import GenreClassifier

    source = model_source(args)
    print(f"Loading the model from {source}", file=sys.stderr)
    classifier = GenreClassifier.from_pretrained(source)
    report = predict_file(classifier, args.data, args.output, columns=ColumnNames.parse(args.columns), split=args.split,
                          chunk_size=args.chunk_size, progress=not args.no_progress)
    print(report, file=sys.stderr)
    print(f"Wrote {args.output}", file=sys.stderr)
    return 0
