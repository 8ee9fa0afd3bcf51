"""`genre-hf data`: download the Multimodal IMDB data set from its public home (`data.download`)."""

from __future__ import annotations

NAME = "data"
TENSORFLOW = False
HELP = "download the data set (CSV and posters) from its public home into a folder"
DESCRIPTION = ("Download the Multimodal IMDB data set from GitHub, check every file against the checksums pinned in the "
               "package, and write it in the upstream layout (IMDB_overview_genres.csv, Images/<Id>.jpg) that --data reads. "
               "An interrupted run is resumed by the next. The posters belong to their studios and the texts to IMDb: "
               "research and educational use only.")
ENVIRONMENT = ("GENRE_HF_DATA_URL", "GENRE_HF_DATA_PINS")
DEFAULT_OUT = "data/imdb-multimodal"


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the folder to write; it must not exist, or be empty (default: {DEFAULT_OUT})")
    parser.add_argument("--original-posters", action="store_true",
                        help="keep the posters as they come (about 300x444, 210 MB) instead of shrinking them to 128 px on the long side")


def check(args) -> None:
    from pathlib import Path

    from genre_hf.data.download import check_destination, source_url
    from genre_hf.data.pins import Pins

    source_url()
    check_destination(Path(args.out).expanduser(), Pins.load())


def run(args) -> int:
    from genre_hf.data.download import download

    download(args.out, original_posters=args.original_posters)
    return 0
