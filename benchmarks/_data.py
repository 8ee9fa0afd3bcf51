"""The data every benchmark reads: $GENRE_HF_DATA (`make bench` sets it to DATA), else the folder `make data` downloads into."""

import os
from pathlib import Path


def data_folder() -> Path:
    return Path(os.environ.get("GENRE_HF_DATA") or Path(__file__).resolve().parents[1] / "data" / "imdb-multimodal")
