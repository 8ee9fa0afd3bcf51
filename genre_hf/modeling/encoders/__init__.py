"""Encoders: what turns a poster or an overview into an embedding, one module each.

Each encoder module defines one `Encoder` subclass and registers it with `@register_encoder` under
its (modality, kind), the kind being its name in config.json (`poster_encoder`, `overview_encoder`).
Every module of this package whose name does not start with "_" is imported on first use, so adding
an encoder is adding its file; `registered_encoders()` lists them (the tests iterate it).
"""

from __future__ import annotations

import importlib
import pkgutil

from genre_hf.config import GenreConfig

MODALITIES = ("poster", "overview")
_REGISTRY: dict[tuple[str, str], type] = {}


def register_encoder(cls: type) -> type:
    """Class decorator: make `cls` the encoder of its (modality, kind)."""
    key = (cls.modality, cls.kind)
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"two encoders register as {key}: {_REGISTRY[key].__name__} and {cls.__name__}")
    _REGISTRY[key] = cls
    return cls


def registered_encoders() -> dict[tuple[str, str], type]:
    """(modality, kind) -> encoder class, for every encoder module of this package."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(_REGISTRY)


def encoder_class(modality: str, kind: str) -> type:
    encoders = registered_encoders()
    if (modality, kind) not in encoders:
        known = sorted(k for m, k in encoders if m == modality)
        raise ValueError(f"unknown {modality}_encoder {kind!r}: use one of {known}")
    return encoders[modality, kind]


def encoder_classes(config: GenreConfig) -> dict[str, type]:
    """The config's encoder classes by modality, before anything is built."""
    return {modality: encoder_class(modality, getattr(config, f"{modality}_encoder")) for modality in MODALITIES}


def make_encoders(config: GenreConfig, tokenizer=None) -> dict:
    """The family's encoders by modality: {"poster": ..., "overview": ...}. Nothing is loaded yet."""
    return {modality: cls(config, tokenizer) for modality, cls in encoder_classes(config).items()}


def model_titles(encoders: dict) -> dict[str, str]:
    """How reports and the app name each model of these encoders: {"poster": "Poster CNN", ..., "fusion": "Fusion"}."""
    return {**{modality: encoder.title for modality, encoder in encoders.items()}, "fusion": "Fusion"}
