"""genre_hf: multi-label movie-genre prediction from a poster and a plot overview.

The front door is `GenreClassifier.from_pretrained(repo_id_or_folder)`. It is imported lazily so
that light modules (data, metrics, calibration) do not pay for TensorFlow's import.
"""

__version__ = "0.2.0"
__all__ = ["GenreClassifier", "__version__"]


def __getattr__(name):
    if name == "GenreClassifier":
        from genre_hf.inference.classifier import GenreClassifier

        return GenreClassifier
    raise AttributeError(f"module 'genre_hf' has no attribute {name!r}")
