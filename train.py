"""Train the three models and save (and optionally push) the model folder: `genre-hf train`.

    python train.py --data ../shared/data/imdb-multimodal --out artifacts/model
    python train.py --data user/some-dataset --push-to-hub user/imdb-genres --private

Without --data it reads the shared data set beside this checkout.
"""

import os
import sys

from genre_hf.cli import entry_point

SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared", "data", "imdb-multimodal")

if __name__ == "__main__":
    arguments = sys.argv[1:]
    if "--data" not in arguments and not any(a.startswith("--data=") for a in arguments) and "GENRE_HF_DATA" not in os.environ:
        arguments += ["--data", SHARED_DATA]
    entry_point(["train", *arguments])
