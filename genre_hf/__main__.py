"""`python -m genre_hf ...` is the `genre-hf` command."""

from genre_hf.cli import entry_point

entry_point()
