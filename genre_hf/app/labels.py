"""How the page names a model family and links to where a model came from."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants


def family_label(classifier) -> str:
    """How the page names a model family: "From scratch: Poster CNN + Overview LSTM"."""
    kind = "Pretrained" if any(encoder.frozen for encoder in classifier.encoders.values()) else "From scratch"
    return f"{kind}: {classifier.titles['poster']} + {classifier.titles['overview']}"


def unbroken(name: str) -> str:
    """A name as the page shows it: its hyphens never break it across lines on a phone
    (all-MiniLM-L6-v2, EfficientNet-Lite0)."""
    return name.replace("-", "\u2011")


def model_link(source: str) -> str:
    """Markdown naming where the model came from without showing the server's paths: its Hub id,
    linked to its model card, or "a local model"."""
    if Path(source).is_dir() or not source:
        return "a local model"
    return f"[{source}]({constants.ENDPOINT}/{source})"
