"""What the frozen KerasHub encoders share: a preset pinned at training by its Hub revision and weights
hash, and the runtime its pass runs on (LiteRT by default: `modeling/litert.py`)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from genre_hf import reading, staging
from genre_hf.extras import require
from genre_hf.modeling import litert, presets
from genre_hf.modeling.encoders._base import FLOAT, Encoder, EncoderSettings
from genre_hf.settings import setting

PRESET_LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "Apache-2.0"}  # Hub id -> licence, for the card
# What runs the backbone's pass: TensorFlow through KerasHub, or its conversion on LiteRT with float32 or
# int8 weights (measured: docs/benchmark.md, "The frozen encoders on LiteRT").
RUNTIMES = ("tensorflow", "litert_float32", "litert_int8")
MAX_CONVERTED_BYTES = 256 * 2**20  # a converted backbone (MiniLM-L6 in int8: 22 MB; a BERT-base in float32: 440 MB is refused)


@dataclass
class PresetSettings(EncoderSettings):
    """A pretrained KerasHub backbone given by its preset (hf://owner/name or a local preset folder),
    frozen: its features go through a dropout and a dense trunk trained here."""

    kind: str = setting("keras_hub", choices=("keras_hub",))
    preset: str = setting("", chars=500)
    revision: str = setting("", pattern="[0-9a-f]{40}", recorded=True)  # the Hub commit trained with (empty: a local folder)
    sha256: str = setting("", pattern="[0-9a-f]{64}", recorded=True)  # its weights file's: other weights are refused
    embedding_dim: int = setting(0, 0, 16384, recorded=True)  # the features' size, set by training
    input_dropout: float = setting(0.2, 0.0, 0.95)
    head_units: int = setting(512, 1, 4096)
    head_dropout: float = setting(0.5, 0.0, 0.95)
    runtime: str = setting("litert_int8", choices=RUNTIMES)
    converted_sha256: str = setting("", pattern="[0-9a-f]{64}", recorded=True)  # the LiteRT file's, set by training

    def trained_rules(self) -> list[str]:
        rules = ["embedding_dim must be positive in a trained model"] if self.embedding_dim < 1 else []
        if (self.runtime != "tensorflow") != bool(self.converted_sha256):
            rules.append("converted_sha256 must be set exactly when the runtime is LiteRT, in a trained model")
        return rules


class KerasHubPreset(Encoder):
    """A preset given by its settings' `preset`, pinned by `revision` and `sha256` (recorded at training).

    A model folder keeps only these (config.json): the backbone comes from the Hub cache (or the
    preset folder) at exactly that revision and those weights, never others. `presets.resolve`
    answers once per process, so a prediction does not ask the Hub again.
    """

    kind = "keras_hub"
    frozen = True
    role: str  # how errors name it, e.g. "text encoder"

    def __init__(self, settings, tokenizer=None, seed: int = 0):
        super().__init__(settings, tokenizer, seed)
        if settings.runtime == "tensorflow":
            self._require_backbone(settings)

    @classmethod
    def _require_backbone(cls, settings) -> None:
        """Training (and a model on the TensorFlow runtime) needs the pretrained extra, and says so at once;
        a folder on LiteRT keeps its converted encoder and needs neither KerasHub nor TensorFlow Text."""
        for module in ("keras_hub", "tensorflow_text"):
            require(module, f"a model with a pretrained KerasHub {cls.role} ({settings.preset or 'no preset'})")

    @classmethod
    def resolved(cls, settings):
        """(local folder, revision, weights sha256) of the settings' preset."""
        cls._require_backbone(settings)
        if not settings.preset:
            raise ValueError(f"{cls.modality}.kind 'keras_hub' needs {cls.modality}.preset: hf://owner/name or a local KerasHub preset folder")
        return presets.resolve(settings.preset, settings.revision, settings.sha256, role=cls.role)

    @classmethod
    def pinned(cls, settings):
        _, revision, sha256 = cls.resolved(settings)
        settings = replace(settings, revision=revision, sha256=sha256)
        if settings.runtime != "tensorflow":
            settings = replace(settings, converted_sha256=litert.content_sha256(cls.converted(settings)))
        return settings

    # ---- the pass on LiteRT: converted once per weights and settings, kept in the model folder ---------

    converted_content: bytes | None = None  # the model folder's converted pass, verified (`load_files`)

    @classmethod
    def conversion_settings(cls, settings) -> list:
        """What the converted pass depends on besides the weights and the runtime."""
        return []

    @classmethod
    def tensorflow_pass(cls, settings):
        """The backbone's traced pass (KerasHub on TensorFlow), which `litert.convert` converts."""
        raise NotImplementedError

    @classmethod
    def converted(cls, settings) -> bytes:
        """The backbone's pass on LiteRT: converted the first time (TensorFlow's converter: seconds), then
        read from genre_hf's cache, where it is keyed by everything it depends on (the weights' sha256, the
        settings that shape the pass, the runtime, the converter's version)."""
        key = json.dumps([cls.modality, cls.kind, settings.sha256, cls.conversion_settings(settings), settings.runtime,
                          metadata.version("tensorflow")])
        path = staging.default_cache_dir() / "litert" / f"{cls.modality}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.tflite"
        if path.is_file():
            return reading.read_bytes(path, MAX_CONVERTED_BYTES, f"the converted {cls.role} {path}")
        content = litert.convert(cls.tensorflow_pass(settings), int8=settings.runtime == "litert_int8")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(staging.name(path.name, uuid.uuid4().hex[:12]))
        partial.write_bytes(content)
        partial.replace(path)  # whole or not at all; two processes converting at once write the same bytes
        return content

    def lite_content(self) -> bytes:
        """The converted pass this model was trained with: the model folder's, else the cache's (made if missing)."""
        content = self.converted_content or type(self).converted(self.settings)
        if litert.content_sha256(content) != self.settings.converted_sha256:
            raise ValueError(f"the {self.role} converted here for LiteRT differs from the one this model was trained with "
                             f"(sha256 {self.settings.converted_sha256[:12]}...): load the model from its folder, which keeps it")
        return content

    def saved_files(self) -> dict[str, bytes]:
        if self.settings.runtime == "tensorflow":
            return {}
        return {"converted": self.lite_content()}

    def load_files(self, files: dict[str, Path]) -> None:
        if "converted" in files:
            try:
                self.converted_content = litert.read_verified(files["converted"], self.settings.converted_sha256, MAX_CONVERTED_BYTES)
            except reading.ReadError as error:
                raise ValueError(str(error)) from None

    def file_roles(self) -> tuple[str, ...]:
        return () if self.settings.runtime == "tensorflow" else ("converted",)

    @property
    def feature_dropout(self) -> float:
        return self.settings.input_dropout

    @property
    def head_dropout(self) -> float:
        return self.settings.head_dropout

    def input_spec(self):
        return (self.settings.embedding_dim,), "float32"

    @property
    def preset_name(self) -> str:
        return self.settings.preset.rstrip("/").rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return f"{self.modality.capitalize()} {self.preset_name}"

    @property
    def folder(self):
        return self.resolved(self.settings)[0]

    def feature_key(self) -> dict:
        settings = self.settings
        return {f"{self.modality}_encoder_pins": [settings.preset, settings.revision, settings.sha256, *self.feature_settings()]}

    def feature_settings(self) -> list:
        """The settings besides the preset and its pins that this encoder's features depend on."""
        return [self.settings.runtime, self.settings.converted_sha256]

    def trunk(self, features):
        from keras import layers

        x = layers.Dropout(self.settings.input_dropout, name=f"{self.modality}_input_dropout")(features)
        return layers.Dense(self.settings.head_units, activation="relu", name=f"{self.modality}_embedding")(x)

    def unavailable(self) -> str | None:
        if self.converted_content is not None and not self.needs_preset():
            return None
        try:
            self.resolved(self.settings)
        except ValueError as error:
            return str(error)
        return None

    def card_facts(self) -> dict:
        settings = self.settings
        hub = settings.preset.removeprefix(presets.HF_PREFIX) if settings.preset.startswith(presets.HF_PREFIX) else None
        name, link = hub or self.preset_name, f"https://huggingface.co/{hub}" if hub else settings.preset
        licence = PRESET_LICENSES.get(hub, "see the preset's own card")
        revision = f"revision `{settings.revision}`, " if settings.revision else ""
        return {"title": self.title, "description": (
            f"the {self.modality} encoded by the pretrained [{name}]({link}) (licence: {licence}), "
            f"loaded through KerasHub from `{settings.preset}` and kept frozen ({revision}weights sha256 `{settings.sha256[:12]}...`"
            f"{self.card_details()}){self.runtime_sentence()}, its features into a head trained here.")}

    def runtime_sentence(self) -> str:
        if self.settings.runtime == "tensorflow":
            return ""
        weights = "int8" if self.settings.runtime == "litert_int8" else "float32"
        return (f", converted for LiteRT with {weights} weights (this repo's `{self.modality}_encoder.tflite`, sha256 "
                f"`{self.settings.converted_sha256[:12]}...`: the heads were trained on its embeddings)")

    def needs_preset(self) -> bool:
        """Whether it still reads the preset's files with its converted pass loaded from a model folder."""
        return False

    def card_details(self) -> str:
        """More the card says about this encoder's input, after its pins."""
        return ""

    @classmethod
    def embedding_size(cls, settings) -> int:
        return settings.head_units

    @classmethod
    def feature_size(cls, settings) -> int:
        return settings.embedding_dim

    @classmethod
    def trunk_weights(cls, settings, vocabulary: int) -> int:
        return settings.embedding_dim * settings.head_units + settings.head_units

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return FLOAT * (settings.embedding_dim or 2048)  # before training records it: a guess
