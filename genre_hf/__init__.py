"""genre_hf: multi-label movie-genre prediction from a poster and a plot overview.

The front door is `GenreClassifier.from_pretrained(repo_id_or_folder)`; `train_and_save` is
`genre-hf train` from Python. Both are imported lazily, so that light modules (data, metrics,
calibration) do not pay for TensorFlow's import.
"""

__version__ = "0.3.0"
__all__ = ["GenreClassifier", "train_and_save", "__version__"]


def __getattr__(name):
    if name == "GenreClassifier":
        from genre_hf.inference.classifier import GenreClassifier

        return GenreClassifier
    if name == "train_and_save":
        from genre_hf.pipeline import train_and_save

        return train_and_save
    raise AttributeError(f"module 'genre_hf' has no attribute {name!r}")
