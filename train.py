"""Train the poster CNN, overview LSTM and fusion models; save (and optionally push) the folder.

    python train.py --data ../shared/data/imdb-multimodal --out artifacts/model
    python train.py --data user/some-dataset --push-to-hub user/imdb-genres --private
"""

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared", "data", "imdb-multimodal")


def parse_args(argv=None):
    from genre_hf.config import LOSSES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="upstream folder, Parquet file, save_to_disk folder or Hub dataset id")
    parser.add_argument("--out", default="artifacts/model", help="model folder to write")
    parser.add_argument("--columns", default=None, help="column mapping for non-upstream data, e.g. overview=plot,poster=image")
    parser.add_argument("--loss", choices=LOSSES, default=None, help="training objective (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="cap every model's epochs (quick runs)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="upload the model folder to this Hub repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from genre_hf.config import GenreConfig
    from genre_hf.data import ColumnNames
    from genre_hf.workflow import train_and_save

    config = GenreConfig()
    if args.loss:
        config.loss = args.loss
    if args.seed is not None:
        config.seed = args.seed
    if args.epochs:
        config = dataclasses.replace(
            config,
            epochs_cnn=min(config.epochs_cnn, args.epochs),
            epochs_lstm=min(config.epochs_lstm, args.epochs),
            epochs_fusion=min(config.epochs_fusion, args.epochs),
        )
    try:
        train_and_save(
            args.data,
            args.out,
            config=config,
            columns=ColumnNames.parse(args.columns),
            push_to_hub=args.push_to_hub,
            private=args.private,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
