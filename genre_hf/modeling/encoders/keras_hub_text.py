"""A pretrained KerasHub text backbone, frozen: the pretrained family's overview encoder.

Each overview is embedded once, before the models (training caches the embeddings and never updates
the backbone): the attention-mask mean of chosen layers' states, each scaled to unit length,
concatenated. On LiteRT (the default runtime) that pass is converted once and kept in the model
folder with the WordPiece vocabulary, and overviews are tokenized in plain Python (`wordpiece.py`):
predicting imports neither TensorFlow nor KerasHub. On TensorFlow, KerasHub builds the backbone from
the preset. Only this encoder imports keras_hub for text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genre_hf import reading
from genre_hf.modeling import litert
from genre_hf.modeling.encoders._base import FLOAT
from genre_hf.modeling.encoders._frozen import LiteEmbedders, remembered
from genre_hf.modeling.encoders._preset import KerasHubPreset, PresetSettings
from genre_hf.modeling.traced import traced
from genre_hf.modeling.wordpiece import WordPiece
from genre_hf.settings import setting

BATCH = 64  # overviews a backbone pass reads at most
# ...and word pieces, padding included: the longest overviews go in smaller batches, which pad less. Over
# the 542 test overviews cut in 20 batches instead of 9 of 64: 19,319 word pieces instead of 20,872, 1.07x
# the speed; over training's chunks of 256 (featurizer.CHUNK), 157,933 instead of 181,800.
BATCH_TOKENS = 1024
MAX_VOCABULARY_BYTES = 16 * 2**20  # a WordPiece vocabulary (BERT's: 232 kB)


DEFAULT_PRESET = "hf://sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class KerasHubTextSettings(PresetSettings):
    preset: str = setting(DEFAULT_PRESET, chars=500)
    sequence_length: int = setting(128, 8, 512)  # WordPiece tokens, [CLS] and [SEP] included
    # Every layer's attention-mask mean (0 = embeddings), each scaled to unit length and concatenated:
    # genre cues sit in the middle layers as much as in the last, and the unit scale keeps one layer
    # from drowning the others (measured: docs/families.md).
    layers: list[int] = setting([1, 2, 3, 4, 5, 6], length=(1, 25), items=(0, 48))
    normalize_layers: bool = setting(True)
    epochs: int = setting(20, 1, 1000)

    def trained_rules(self) -> list[str]:
        if super().trained_rules() or self.embedding_dim % len(self.layers):
            return ["embedding_dim must be positive and split evenly over layers in a trained model"]
        return []


class KerasHubText(KerasHubPreset):
    """A pretrained KerasHub text backbone given by a preset (default: the Hub's
    sentence-transformers/all-MiniLM-L6-v2), frozen: the mean-pooled states of chosen layers are the
    model input, and a trained dense layer on them is the trunk.
    """

    modality, input_name, role = "overview", "overview_features", "text encoder"
    Settings = KerasHubTextSettings

    @classmethod
    def pinned(cls, settings):
        settings = super().pinned(settings)
        if settings.runtime == "tensorflow":
            dimension = cls._tensorflow_embedder(settings).dimension
        else:
            dimension = int(litert.LiteModel(cls.converted(settings), f"the converted {cls.role}").output_shapes()[0][-1])
        return replace(settings, embedding_dim=dimension)

    @classmethod
    def _tensorflow_embedder(cls, settings, layers: tuple[int, ...] | None = None) -> "TextEmbedder":
        folder = cls.resolved(settings)[0]
        return embedder_for(folder, settings.sequence_length, layers or tuple(settings.layers), settings.normalize_layers)

    @classmethod
    def conversion_settings(cls, settings) -> list:
        return [settings.layers, settings.normalize_layers]

    @classmethod
    def tensorflow_pass(cls, settings):
        return cls._tensorflow_embedder(settings)._pooled

    vocabulary_content: bytes | None = None  # the model folder's WordPiece vocabulary (`load_files`)

    def _embedder(self, layers: tuple[int, ...] | None = None) -> "BaseTextEmbedder":
        """The TensorFlow backbone for other `layers` (the baseline's sentence embedding) or the
        TensorFlow runtime; else the converted pass on LiteRT, one per converted file in a process."""
        settings = self.settings
        if layers is not None or settings.runtime == "tensorflow":
            return self._tensorflow_embedder(settings, layers)
        embedder = _LITE_EMBEDDERS.get(settings.converted_sha256, settings.sequence_length)
        if embedder is None:
            vocabulary = self.vocabulary_content or self._preset_vocabulary()
            embedder = LiteTextEmbedder(self.lite_content(), vocabulary, settings.sequence_length)
            _LITE_EMBEDDERS.put(settings.converted_sha256, settings.sequence_length, embedder)
        return embedder

    def _preset_vocabulary(self) -> bytes:
        """The preset's WordPiece vocabulary (vocab.txt), which the LiteRT runtime tokenizes with: BERT-style
        uncased presets only (their tokenizer_config.json says do_lower_case)."""
        folder = self.folder
        vocabulary, options = folder / "vocab.txt", folder / "tokenizer_config.json"
        lowercase = reading.read_json(options, 2**20).get("do_lower_case", True) if options.is_file() else True
        if not vocabulary.is_file() or lowercase is not True:
            raise ValueError(f"the {self.role} {self.settings.preset} is not an uncased BERT WordPiece preset (vocab.txt, do_lower_case), "
                             f"which the LiteRT runtime tokenizes: set {self.modality}.runtime to \"tensorflow\"")
        return reading.read_bytes(vocabulary, MAX_VOCABULARY_BYTES)

    def file_roles(self) -> tuple[str, ...]:
        roles = super().file_roles()
        return (*roles, "vocabulary") if roles else roles

    def saved_files(self) -> dict[str, bytes]:
        files = super().saved_files()
        if files:
            files["vocabulary"] = self.vocabulary_content or self._preset_vocabulary()
        return files

    def load_files(self, files: dict) -> None:
        super().load_files(files)
        if "vocabulary" in files:
            try:
                self.vocabulary_content = reading.read_bytes(files["vocabulary"], MAX_VOCABULARY_BYTES)
                wordpiece_vocabulary(self.vocabulary_content)
            except reading.ReadError as error:
                raise ValueError(str(error)) from None
            except ValueError as error:
                raise ValueError(f"{files['vocabulary'].name}: {error}") from None

    def feature_settings(self) -> list:
        return [*super().feature_settings(), self.settings.layers, self.settings.normalize_layers, self.settings.sequence_length]

    def features(self, texts: list[str]) -> np.ndarray:
        return self._embedder()(texts)

    def sentence_span(self) -> tuple[int, int]:
        """The deepest pooled layer's mean: the sentence embedding (the last of the concatenated layers)."""
        size = self.settings.embedding_dim // len(self.settings.layers)
        return (len(self.settings.layers) - 1) * size, size

    def sentence_embeddings(self, texts: list[str]) -> np.ndarray:
        """The backbone's usual sentence embedding (last layer, mean-pooled), for the logistic-regression
        baseline; taken from `features` when the last layer is among the pooled ones."""
        hidden = self.settings.embedding_dim // len(self.settings.layers)
        last = self.num_layers()
        if last in self.settings.layers:
            start = self.settings.layers.index(last) * hidden
            return self.features(texts)[:, start : start + hidden]
        return self._embedder((last,))(texts)

    def num_layers(self) -> int:
        """The backbone's transformer layers, from the preset's config (no backbone is built)."""
        config = reading.read_json(self.folder / "config.json", 2**20)
        layers = config.get("num_hidden_layers", config.get("config", {}).get("num_layers") if isinstance(config.get("config"), dict) else None)
        if not isinstance(layers, int):
            return self._tensorflow_embedder(self.settings).num_layers
        return layers

    def notes(self, texts: list[str]) -> list[list[str]]:
        lengths = [len(ids) for ids in self._embedder().token_ids(texts)]
        limit = self.settings.sequence_length
        return [[f"The overview is longer than the {limit} word pieces the overview models read; the rest is ignored."]
                if length >= limit else [] for length in lengths]

    @classmethod
    def feature_bytes(cls, settings, tokens) -> int:
        return FLOAT * (settings.embedding_dim or 384 * len(settings.layers))  # before training records it: MiniLM's width


class BaseTextEmbedder:
    """Overviews -> the frozen pass's embeddings: WordPiece ids with [CLS] and [SEP] cut to the sequence
    length, sorted by length and padded per batch (`length_batches`), which on ~40-token overviews is
    several times faster than fixed padding. Each distinct overview is tokenized and embedded once per
    process (up to `_frozen.MEMORY` of them): predict reads the ids twice (the embedding, and the note on a cut
    overview), and a training run embeds each overview for the models and the baseline."""

    dimension: int
    sequence_length: int
    special: tuple[int, int]  # [CLS] and [SEP]

    def __init__(self):
        self._memory: dict[str, np.ndarray] = {}
        self._token_memory: dict[str, list[int]] = {}

    def pieces(self, texts: list[str]) -> list:
        """Each text's WordPiece ids, without [CLS] and [SEP]."""
        raise NotImplementedError

    def run(self, tokens: np.ndarray) -> np.ndarray:
        """One padded batch of token ids -> its embeddings."""
        raise NotImplementedError

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        cls, sep = self.special
        return remembered(self._token_memory, texts, texts, lambda new: [
            [cls, *np.asarray(ids).tolist()[: self.sequence_length - 2], sep] for ids in self.pieces(new)])

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, N x dimension."""
        return np.stack(remembered(self._memory, texts, texts, self._embed)) if texts else np.zeros((0, self.dimension), np.float32)

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = self.token_ids(texts)
        embeddings = np.zeros((len(ids), self.dimension), np.float32)
        for rows in length_batches([len(x) for x in ids]):
            embeddings[rows] = self.run(padded_tokens(ids, rows))
        return embeddings


class TextEmbedder(BaseTextEmbedder):
    """The frozen backbone on TensorFlow (KerasHub): the attention-mask mean of chosen layers' states,
    each scaled to unit length when `normalize` (so no layer outweighs the others), concatenated.
    Layer 0 is the embedding output, 1..N the transformer layers. Its traced pass (`_pooled`) is what
    the LiteRT runtime converts."""

    def __init__(self, folder: Path, sequence_length: int, layers: list[int], normalize: bool = True):
        import keras
        import keras_hub
        import tensorflow as tf

        super().__init__()
        # tokenizer.json's normalizer strips accents for uncased models; from_preset does not by itself.
        # Outside tf.function KerasHub runs WordPiece in Python unless told otherwise; TensorFlow Text's
        # FastWordpiece gives the same ids (every overview of the shared data) about 6x faster.
        self.tokenizer = keras_hub.models.Tokenizer.from_preset(str(folder), strip_accents=True,
                                                                _allow_python_workflow=not _tensorflow_text_imports())
        backbone = keras_hub.models.Backbone.from_preset(str(folder))
        names = [self._layer_name(backbone, layer) for layer in layers]
        model = keras.Model(backbone.inputs, [backbone.get_layer(name).output for name in names])
        self.sequence_length, self.dimension = sequence_length, backbone.hidden_dim * len(layers)
        self.num_layers = backbone.num_layers
        self.special = (self.tokenizer.cls_token_id, self.tokenizer.sep_token_id)

        @traced([tf.TensorSpec([None, None], tf.int32, name="tokens")])
        def pooled(tokens):
            mask = tf.cast(tokens != 0, tf.int32)
            states = model({"token_ids": tokens, "segment_ids": tf.zeros_like(tokens), "padding_mask": mask}, training=False)
            weights = tf.expand_dims(tf.cast(mask, tf.float32), -1)  # not [..., None]: TFLite lacks that slice
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

    def pieces(self, texts: list[str]) -> list:
        return self.tokenizer(texts)

    def run(self, tokens: np.ndarray) -> np.ndarray:
        return self._pooled(tokens).numpy()


class LiteTextEmbedder(BaseTextEmbedder):
    """The same pass converted for LiteRT, tokenized by `WordPiece` in plain Python: no TensorFlow."""

    def __init__(self, content: bytes, vocabulary: bytes, sequence_length: int):
        super().__init__()
        self.wordpiece = wordpiece_vocabulary(vocabulary)
        self.model = litert.LiteModel(content, "the converted text encoder")
        self.sequence_length, self.dimension = sequence_length, int(self.model.output_shapes()[0][-1])
        self.special = (self.wordpiece.token_id("[CLS]"), self.wordpiece.token_id("[SEP]"))

    def pieces(self, texts: list[str]) -> list:
        return self.wordpiece(texts)

    def run(self, tokens: np.ndarray) -> np.ndarray:
        return self.model(tokens)[0]


def wordpiece_vocabulary(content: bytes) -> WordPiece:
    """A BERT vocabulary file's WordPiece (it must hold [UNK], [CLS] and [SEP])."""
    try:
        lines = content.decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start:,})") from None
    wordpiece = WordPiece(lines[:-1] if lines and lines[-1] == "" else lines)
    missing = [token for token in ("[CLS]", "[SEP]") if token not in wordpiece.ids]
    if missing:
        raise ValueError(f"the WordPiece vocabulary has no {' or '.join(missing)} token")
    return wordpiece


_LITE_EMBEDDERS = LiteEmbedders()  # (converted file's sha256, sequence length) -> its embedder


def padded_tokens(ids: list[list[int]], rows) -> np.ndarray:
    """The token ids of `rows`, zero-padded to the longest of them: one backbone batch."""
    tokens = np.zeros((len(rows), max(len(ids[i]) for i in rows)), np.int32)
    for row, index in enumerate(rows):
        tokens[row, : len(ids[index])] = ids[index]
    return tokens


def length_batches(lengths: list[int], most: int = BATCH, tokens: int = BATCH_TOKENS) -> list[np.ndarray]:
    """Row indices in order of length, cut into batches of at most `most` rows whose padded size (rows
    x the longest) stays within `tokens` (a row longer than that goes alone)."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < most and (end - start + 1) * lengths[order[end]] <= tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def _tensorflow_text_imports() -> bool:
    """tensorflow-text 2.21.0 is installed but fails to import (undefined symbol icudt77_dat,
    tensorflow/text#1541): KerasHub's Python WordPiece then stands in for it."""
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def embedder_for(folder: Path, sequence_length: int, layers: tuple[int, ...], normalize: bool = True) -> TextEmbedder:
    """One backbone per preset and settings in a process, shared by every classifier that uses it."""
    return TextEmbedder(folder, sequence_length, list(layers), normalize)
