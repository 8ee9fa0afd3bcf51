"""Encoders: what turns a poster or an overview into an embedding, one module each.

Each encoder module defines one `Encoder` subclass and the dataclass of its settings (config.json's
`poster` or `overview` section, chosen by its `kind`). `ENCODERS` lists them: adding an encoder is
adding its module and a line here; the tests iterate this list.
"""

from __future__ import annotations

from genre_hf.modeling.encoders.keras_hub_image import KerasHubImage
from genre_hf.modeling.encoders.keras_hub_text import KerasHubText
from genre_hf.modeling.encoders.overview_lstm import OverviewLstm
from genre_hf.modeling.encoders.poster_cnn import PosterCnn
from genre_hf.modeling.encoders.poster_efficientnet import PosterEfficientNet

MODALITIES = ("poster", "overview")
ENCODERS: dict[tuple[str, str], type] = {
    (cls.modality, cls.kind): cls for cls in (PosterCnn, OverviewLstm, KerasHubText, KerasHubImage, PosterEfficientNet)}


def encoder_class(modality: str, kind) -> type:
    if (modality, kind) not in ENCODERS:
        known = sorted(k for m, k in ENCODERS if m == modality)
        shown = repr(kind[:40]) if isinstance(kind, str) else "missing"
        raise ValueError(f"{modality}.kind {shown} is not an encoder: use one of {', '.join(known)}")
    return ENCODERS[modality, kind]


def make_encoders(settings: dict, tokenizer=None, seed: int = 0) -> dict:
    """The encoders of `settings` ({"poster": ..., "overview": ...}, each an encoder's settings) by
    modality. Nothing is loaded yet."""
    return {modality: encoder_class(modality, settings[modality].kind)(settings[modality], tokenizer, seed) for modality in MODALITIES}


def model_titles(encoders: dict) -> dict[str, str]:
    """How reports and the app name each model of these encoders: {"poster": "Poster CNN", ..., "fusion": "Fusion"}."""
    return {**{modality: encoder.title for modality, encoder in encoders.items()}, "fusion": "Fusion"}
