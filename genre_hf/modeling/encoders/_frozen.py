"""What every frozen pretrained encoder shares: it runs before the models, once per movie, its
features are the model input, and a dropout and a dense layer trained here are its trunk.

Its backbone is never trained here, so its weights are never copied into a model folder: the
folder's `config.json` pins where they come from and their sha256, and loading refuses others. What
runs the backbone's pass is the `runtime` setting: TensorFlow, or (the default) its conversion for
LiteRT (`modeling/litert.py`), made once per weights and settings and kept in the model folder, so
predicting needs neither TensorFlow nor the backbone's source.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from genre_hf import reading, staging
from genre_hf.modeling import litert
from genre_hf.modeling.encoders._base import FLOAT, Encoder, EncoderSettings
from genre_hf.settings import setting

MEMORY = 20_000  # inputs whose features a backbone keeps in a process (at most about 180 MB at 2,304 floats each)
# What runs the backbone's pass: TensorFlow, or its conversion on LiteRT with float32 or int8 weights
# (measured: docs/benchmark.md, "The frozen encoders on LiteRT").
RUNTIMES = ("tensorflow", "litert_float32", "litert_int8")
MAX_CONVERTED_BYTES = 256 * 2**20  # a converted backbone (MiniLM-L6 in int8: 22 MB; a BERT-base in float32: 440 MB is refused)


@dataclass
class FrozenSettings(EncoderSettings):
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


class FrozenEncoder(Encoder):
    """A frozen backbone's features in, a dropout and a dense layer as the trunk (`<modality>_embedding`).

    Its settings carry `sha256`, the backbone's weights' (its subclasses pin it at training)."""

    frozen = True
    role: str  # how errors name it, e.g. "text encoder"

    def __init__(self, settings, tokenizer=None, seed: int = 0):
        super().__init__(settings, tokenizer, seed)
        if settings.runtime == "tensorflow":
            self._require_backbone(settings)

    @classmethod
    def _require_backbone(cls, settings) -> None:
        """Raise MissingExtra unless what builds the backbone on TensorFlow is installed: training and a
        model on the TensorFlow runtime need it, and say so at once; a folder on LiteRT keeps its
        converted pass and needs none of it."""

    @property
    def feature_dropout(self) -> float:
        return self.settings.input_dropout

    @property
    def head_dropout(self) -> float:
        return self.settings.head_dropout

    def input_spec(self):
        return (self.settings.embedding_dim,), "float32"

    def trunk(self, features):
        from keras import layers

        x = layers.Dropout(self.settings.input_dropout, name=f"{self.modality}_input_dropout")(features)
        return layers.Dense(self.settings.head_units, activation="relu", name=f"{self.modality}_embedding")(x)

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
    def pass_bytes(cls, settings, tokens) -> int:
        return FLOAT * settings.embedding_dim  # the models read the features, not the poster or the text

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return FLOAT * (settings.embedding_dim or 2048)  # before training records it: a guess

    # ---- the pass on LiteRT: converted once per weights and settings, kept in the model folder ---------

    converted_content: bytes | None = None  # the model folder's converted pass, verified (`load_files`)

    @classmethod
    def conversion_settings(cls, settings) -> list:
        """What the converted pass depends on besides the weights and the runtime."""
        return []

    @classmethod
    def tensorflow_pass(cls, settings):
        """The backbone's traced pass on TensorFlow, which `litert.convert` converts."""
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

    @classmethod
    def converted_pin(cls, settings) -> str:
        """The pin of the settings' converted pass ("" on TensorFlow), recorded at training."""
        return "" if settings.runtime == "tensorflow" else litert.content_sha256(cls.converted(settings))

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

    def feature_settings(self) -> list:
        """What this encoder's features depend on besides its weights' pins."""
        return [self.settings.runtime, self.settings.converted_sha256]

    def runtime_sentence(self) -> str:
        """The model card's words on the runtime, after the encoder's own."""
        if self.settings.runtime == "tensorflow":
            return ""
        weights = "int8" if self.settings.runtime == "litert_int8" else "float32"
        return (f", converted for LiteRT with {weights} weights (this repo's `{self.modality}_encoder.tflite`, sha256 "
                f"`{self.settings.converted_sha256[:12]}...`: the heads were trained on its embeddings)")


class LiteEmbedders:
    """One LiteRT embedder per converted file (and input shape setting) in a process, a few at most:
    the app serves two families, a test run loads many folders."""

    def __init__(self, most: int = 4):
        self.most, self.known = most, {}

    def get(self, sha256: str, shape: int):
        return self.known.get((sha256, shape))

    def put(self, sha256: str, shape: int, embedder) -> None:
        if len(self.known) >= self.most:
            self.known.pop(next(iter(self.known)))
        self.known[sha256, shape] = embedder


def remembered(memory: dict, keys: list, items: list, compute) -> list:
    """memory[key] for each of `items` (`keys[i]` names `items[i]`), the missing ones computed in one
    call of `compute` (on the distinct new items); the memory is emptied first when it would grow
    past MEMORY. A training run embeds each movie for every model, the baseline and every seed of a
    benchmark: a backbone pass each time otherwise."""
    new = {}
    for key, item in zip(keys, items):
        if key not in memory and key not in new:
            new[key] = item
    if new:
        if len(memory) + len(new) > MEMORY:
            memory.clear()
        memory.update(zip(new, compute(list(new.values()))))
    return [memory[key] for key in keys]
