"""How the page names a model family and links to where a model came from."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants


def family_label(classifier) -> str:
    """How the page names a model family: "From scratch: Poster CNN + Overview LSTM"."""
    kind = "Pretrained" if any(encoder.frozen for encoder in classifier.encoders.values()) else "From scratch"
    return f"{kind}: {classifier.titles['poster']} + {classifier.titles['overview']}"


def model_link(source: str) -> str:
    """Markdown pointing at where the model came from: its Hub page, or the local folder."""
    if Path(source).is_dir():
        return f"the local folder `{Path(source).resolve()}`"
    return f"[{source}]({constants.ENDPOINT}/{source})"
