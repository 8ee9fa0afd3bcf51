"""What every frozen pretrained encoder shares: it runs before the models, once per movie, its
features are the model input, and a dropout and a dense layer trained here are its trunk.

Its backbone is never trained here, so its weights are never copied into a model folder: the
folder's `config.json` pins where they come from and their sha256, and loading refuses others.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre_hf.modeling.encoders._base import FLOAT, Encoder, EncoderSettings
from genre_hf.settings import setting

MEMORY = 20_000  # inputs whose features a backbone keeps in a process (at most about 180 MB at 2,304 floats each)


@dataclass
class FrozenSettings(EncoderSettings):
    embedding_dim: int = setting(0, 0, 16384, recorded=True)  # the features' size, set by training
    input_dropout: float = setting(0.2, 0.0, 0.95)
    head_units: int = setting(512, 1, 4096)
    head_dropout: float = setting(0.5, 0.0, 0.95)

    def trained_rules(self) -> list[str]:
        return ["embedding_dim must be positive in a trained model"] if self.embedding_dim < 1 else []


class FrozenEncoder(Encoder):
    """A frozen backbone's features in, a dropout and a dense layer as the trunk (`<modality>_embedding`)."""

    frozen = True

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
