"""The project's evaluation metric, shipped as a local `evaluate` module.

`multilabel_genres.py` is loaded by path rather than with `evaluate.load("f1")` from the Hub:
the Hub is not reachable offline (training boxes, tests, a Space without network), and keeping the
metric file in this package versions it with the model, so a score reported for a model is always
computed by the same code. Its `reliability_curve` is plain Python and can also be imported directly.
"""

import functools
from pathlib import Path

_METRIC_PATH = Path(__file__).resolve().parent / "multilabel_genres.py"


@functools.lru_cache(maxsize=None)
def load_metric():
    """Load (once per process) and return the local `MultilabelGenres` evaluate metric."""
    import evaluate  # imported lazily: evaluate pulls in datasets/pyarrow

    return evaluate.load(str(_METRIC_PATH), keep_in_memory=True)
