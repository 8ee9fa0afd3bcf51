"""The Gradio app (and the Space's entry point): `genre-hf app`.

    GENRE_HF_MODEL=user/imdb-genres python app.py --port 7860

See `python app.py --help` for where the model comes from and the environment variables it reads.
"""

import sys

from genre_hf.cli import entry_point

if __name__ == "__main__":
    entry_point(["app", *sys.argv[1:]])
