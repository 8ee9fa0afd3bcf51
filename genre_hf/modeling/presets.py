"""Pretrained KerasHub backbones: a preset resolved at a pinned revision (for the text and the image
encoder alike), and the text backbone run frozen (the image one is in `pretrained_image.py`).

A preset is `hf://owner/name` (downloaded through the Hub cache at the commit a model was trained
with, so a restarted app finds it there and a changed upstream repo cannot silently change the
model) or a local preset folder (pinned by the sha256 of its weights). The backbone embeds each
overview (or poster) once, before the models: training caches the embeddings and never updates the
backbone, so its weights are never copied into a model folder. Only encoders given by a preset
import this.

A machine without the Hub can point $GENRE_HF_PRESET_MIRROR at a folder holding `<name>/`, a copy
of the Hub repo `owner/name`'s files: it is used in place of the download (its weights checked
against the hash a model was trained with, as always), and the model keeps the Hub id.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

HF_PREFIX = "hf://"
# Not the repo's ONNX / OpenVINO / PyTorch copies; model.weights.h5 is a KerasHub-format preset's weights.
PRESET_FILES = ["*.json", "*.txt", "*.safetensors", "*.model", "model.weights.h5"]
WEIGHT_FILES = ("model.safetensors", "model.weights.h5")
BATCH = 64
MEMORY = 20_000  # overviews whose embeddings a process keeps (at most about 180 MB at 2,304 floats each)


def resolve(preset: str, revision: str = "", sha256: str = "", role: str = "text encoder") -> tuple[Path, str, str]:
    """(local preset folder, Hub commit or "", sha256 of its weights).

    Given the revision and weights hash a model was trained with, returns exactly those files or
    raises a ValueError (naming the preset by its `role`): a preset whose weights changed is
    refused, never silently used.
    """
    mirrored = _mirror(preset)
    if mirrored is not None:
        folder, revision = mirrored, ""
    elif preset.startswith(HF_PREFIX):
        folder, revision = _from_hub(preset, revision, role)
    else:
        folder, revision = Path(preset).expanduser(), ""
        if not folder.is_dir():
            raise ValueError(f"{role} preset {preset!r}: expected hf://owner/name or a local KerasHub/transformers preset folder")
    found = weights_hash(folder, role)
    if sha256 and found != sha256:
        raise ValueError(
            f"the {role} {preset} has weights with sha256 {found[:12]}..., but this model was trained with "
            f"{sha256[:12]}...: it needs the encoder it was trained with"
        )
    return folder, revision, found


def _mirror(preset: str) -> Path | None:
    """The local copy of a Hub preset under $GENRE_HF_PRESET_MIRROR, if it is set and has one."""
    mirror = os.environ.get("GENRE_HF_PRESET_MIRROR")
    if not mirror or not preset.startswith(HF_PREFIX):
        return None
    folder = Path(mirror).expanduser() / preset.rstrip("/").rsplit("/", 1)[-1]
    return folder if folder.is_dir() else None


def _from_hub(preset: str, revision: str, role: str) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id = preset.removeprefix(HF_PREFIX)
    try:
        folder = Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=PRESET_FILES))
    except RevisionNotFoundError:
        raise ValueError(f"{preset} has no revision {revision}, the one this model was trained with") from None
    except RepositoryNotFoundError:
        raise ValueError(f"no Hub repo {repo_id} for the {role} {preset} (or it is private: set HF_TOKEN)") from None
    except LocalEntryNotFoundError:
        raise ValueError(
            f"the {role} {preset} (revision {revision or 'main'}) is neither reachable on the Hub nor in the cache"
        ) from None
    return folder, folder.name  # the snapshot folder is named by its commit


def weights_hash(folder: Path, role: str = "text encoder") -> str:
    """sha256 of the preset's weights file. In the Hub cache it is the blob's name (the Hub's LFS
    hash), so nothing is read; a local folder's file is hashed once per process."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_symlink() and len(path.resolve().name) == 64:
            return path.resolve().name
        if path.is_file():
            return _file_hash(path.resolve(), path.stat().st_size, path.stat().st_mtime_ns)
    raise ValueError(f"no weights ({' or '.join(WEIGHT_FILES)}) in the {role} preset {folder}")


@functools.lru_cache(maxsize=8)
def _file_hash(path: Path, size: int, mtime: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TextEmbedder:
    """A frozen backbone: overviews -> the attention-mask mean of chosen layers' states, each scaled
    to unit length when `normalize` (so no layer outweighs the others), concatenated.

    Layer 0 is the embedding output, 1..N the transformer layers. Overviews are sorted by length
    and padded per batch, which on ~40-token overviews is several times faster than fixed padding.
    """

    def __init__(self, folder: Path, sequence_length: int, layers: list[int], normalize: bool = True):
        import keras
        import keras_hub
        import tensorflow as tf

        # tokenizer.json's normalizer strips accents for uncased models; from_preset does not by itself.
        self.tokenizer = keras_hub.models.Tokenizer.from_preset(str(folder), strip_accents=True)
        backbone = keras_hub.models.Backbone.from_preset(str(folder))
        names = [self._layer_name(backbone, layer) for layer in layers]
        model = keras.Model(backbone.inputs, [backbone.get_layer(name).output for name in names])
        self.sequence_length, self.dimension = sequence_length, backbone.hidden_dim * len(layers)
        self.num_layers = backbone.num_layers
        self.special = (self.tokenizer.cls_token_id, self.tokenizer.sep_token_id)
        self._memory: dict[str, np.ndarray] = {}  # training embeds each overview for the models and the baseline

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def pooled(tokens):
            mask = tf.cast(tokens != 0, tf.int32)
            states = model({"token_ids": tokens, "segment_ids": tf.zeros_like(tokens), "padding_mask": mask}, training=False)
            weights = tf.cast(mask, tf.float32)[..., None]
            means = [tf.reduce_sum(s * weights, 1) / tf.reduce_sum(weights, 1) for s in (states if len(names) > 1 else [states])]
            if normalize:
                means = [tf.math.l2_normalize(mean, axis=-1) for mean in means]
            return tf.concat(means, axis=-1)

        self._pooled = pooled

    @staticmethod
    def _layer_name(backbone, layer: int) -> str:
        count = backbone.num_layers
        if not 0 <= layer <= count:
            raise ValueError(f"text layer {layer} does not exist: the backbone has layers 0 (embeddings) to {count}")
        return "embeddings_layer_norm" if layer == 0 else f"transformer_layer_{layer - 1}"

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] and [SEP], cut to the sequence length."""
        cls, sep = self.special
        return [[cls, *np.asarray(ids).tolist()[: self.sequence_length - 2], sep] for ids in self.tokenizer(list(texts))]

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, N x dimension; each distinct overview is embedded once per process
        (up to MEMORY of them), so a training run's second pass over its overviews costs nothing."""
        new = list(dict.fromkeys(text for text in texts if text not in self._memory))
        if new:
            if len(self._memory) + len(new) > MEMORY:
                self._memory.clear()
            self._memory.update(zip(new, self._embed(new)))
        return np.stack([self._memory[text] for text in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = self.token_ids(texts)
        embeddings = np.zeros((len(ids), self.dimension), np.float32)
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(ids), BATCH):
            rows = order[start : start + BATCH]
            tokens = np.zeros((len(rows), max(len(ids[i]) for i in rows)), np.int32)
            for row, index in enumerate(rows):
                tokens[row, : len(ids[index])] = ids[index]
            embeddings[rows] = self._pooled(tokens).numpy()
        return embeddings


@functools.lru_cache(maxsize=4)
def embedder(folder: Path, sequence_length: int, layers: tuple[int, ...], normalize: bool = True) -> TextEmbedder:
    """One backbone per preset and settings in a process, shared by every classifier that uses it."""
    return TextEmbedder(folder, sequence_length, list(layers), normalize)
