"""Why each model says what it says, for one movie and one genre.

- Poster: Grad-CAM (Selvaraju et al.) on the poster encoder's last convolution block, for the
  poster model and for the fusion model's poster branch: the block's activations weighted by the
  mean gradient of the genre's logit. The map is drawn over the poster at the poster's own aspect
  ratio (the model saw it squeezed to a square, so stretching the map back puts it where the model
  looked). A frozen pretrained poster encoder runs before the models: its backbone's last feature
  map (`Encoder.feature_maps`) is computed for the poster, and the gradient goes from the logit
  through the models and the encoder's pooling (`Encoder.pool_maps`) to it, not back through the
  backbone. A backbone without a feature map (a ViT's token sequence) gives no heat map, and a note
  says why.
- Overview: occlusion per word, for the overview model and the fusion model's text side. Each word
  is removed in turn and every variant goes through the model in one batch; a word's score is the
  calibrated probability with the whole overview minus the probability without that word
  (positive: evidence for the genre, negative: against it). Occlusion is faithful by construction
  (the score *is* the change in the model's answer) and encoder-agnostic: it needs only the
  featurizer and a forward pass, so it works as well for a frozen pretrained text encoder whose
  features are computed outside the Keras graph, where integrated gradients (which need a gradient
  from the output back to the words) cannot reach the words.
- Modalities: the fusion model's probabilities with both inputs, with the poster blanked and with
  the overview blanked, computed by `GenreClassifier.probabilities` exactly as `predict` computes
  them, and what each input adds.

`explain` returns plain data (numbers, lists, arrays, PNG bytes); `to_jsonable` makes it JSON.
"""

from __future__ import annotations

import base64
import io
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from genre_hf.data.posters import poster_to_array
from genre_hf.inference.inputs import check_inputs
from genre_hf.modeling.traced import traced

CAM_MODELS = ("poster", "fusion")  # the models that see the poster
WORD_MODELS = ("overview", "fusion")  # the models that read the overview
OVERLAY_SIDE = 256  # the overlay's longest side, in pixels
OVERLAY_ALPHA = 0.6  # how much of the colour shows where the map is hottest
MAX_WORDS = 512  # words scored per overview (no encoder here reads further); bounds the variants' memory
NO_CONV_LAYER = (
    "No poster heat map: the poster encoder ({title}) is a frozen pretrained backbone that gives no feature map over the "
    "poster here (its output is a sequence of tokens, or it runs on LiteRT and the pretrained extra that builds it "
    "on TensorFlow is not installed), so Grad-CAM has nothing to look at."
)
COLORMAP = np.array(  # heat 0 -> 1: dark blue, blue, green, yellow, red (a "jet"-like ramp, no matplotlib needed)
    [[0.0, 20, 20, 120], [0.25, 40, 110, 230], [0.5, 60, 200, 110], [0.75, 250, 200, 40], [1.0, 220, 30, 30]]
)


def explainer(predictor) -> "Explainer":
    """The predictor's explainer, made once (it traces the Grad-CAM functions on first use)."""
    with _LOCK:
        if getattr(predictor, "_explainer", None) is None:
            predictor._explainer = Explainer(predictor)
        return predictor._explainer


_LOCK = threading.Lock()


class Explainer:
    """Grad-CAM, word occlusion and the modality table for one `GenreClassifier`."""

    def __init__(self, predictor):
        self.predictor = predictor
        self._functions = {}  # traced Grad-CAM gradients per model, the fusion model's text side
        self._lock = threading.Lock()
        # Every forward pass traced now, so `predict` and the modality table run the same compiled
        # graphs (an eager and a traced pass may differ in the last bit).
        predictor.compile_for_serving()

    def explain(self, poster=None, overview: str | None = None, genre: str | None = None) -> dict:
        """Explain one movie's prediction for `genre` (default: the fusion model's top genre).

        Returns `{"genre", "top_genre", "titles": {model: title}, "probabilities": {model: p(genre)}, "heat_maps": {model:
        {"title", "probability", "heatmap": H x W float32 in [0, 1] at the poster's aspect,
        "overlay_png": bytes}}, "word_scores": {model: {"title", "probability", "words": [(word,
        score), ...]}}, "modalities": [{"genre", "both", "poster_blanked", "overview_blanked",
        "poster_adds", "overview_adds"}, ...] most likely first (empty unless both inputs are given),
        "notes": [...]}`. Without its only word an overview is no overview: the overview model reads
        no words, the fusion model a blanked overview (as `predict(poster=...)`).
        """
        predictor = self.predictor
        posters, overviews, batched = check_inputs(poster, overview)
        if batched:
            raise ValueError("explain takes one movie at a time: give one poster and/or one overview, not lists")
        image = poster_to_array(posters[0], predictor.featurizer.image_size)[None] if posters else None
        given = predictor.probabilities(image, overviews)
        fusion = given["fusion"][0]
        top = top_genre(fusion, predictor.thresholds("fusion"), predictor.genres)
        index = predictor.genres.index(pick_genre(genre, predictor.genres) if genre is not None else top)
        titles = predictor.titles
        result = {
            "genre": predictor.genres[index],
            "top_genre": top,
            "titles": {name: titles[name] for name in given},
            "probabilities": {name: float(values[0, index]) for name, values in given.items()},
            "heat_maps": {},
            "word_scores": {},
            "modalities": [],
            "notes": list(predictor.encoders["overview"].notes(overviews)[0]) if overviews else [],
        }
        encoder = predictor.encoders["poster"]
        maps = encoder.feature_maps(image) if image is not None and encoder.last_conv_layer is None else None
        if image is not None and encoder.last_conv_layer is None and maps is None:
            result["notes"].append(NO_CONV_LAYER.format(title=titles["poster"]))
        elif image is not None:
            size = poster_size(posters[0])
            display = display_poster(posters[0], size)
            featurizer = predictor.featurizer
            inputs = {**featurizer.poster_inputs(image), **(featurizer.overview_inputs(overviews) if overviews else featurizer.blank_inputs("overview", 1))}
            present = np.array([[1.0, 1.0 if overviews else 0.0]], np.float32)
            for name in CAM_MODELS:
                cam = self.grad_cam(name, inputs, present, index, maps)
                heat = heat_map(cam, size, predictor.featurizer.image_size)
                result["heat_maps"][name] = {
                    "title": titles[name],
                    "probability": result["probabilities"][name],
                    "heatmap": heat,
                    "overlay_png": overlay_png(display, heat_map(cam, size, OVERLAY_SIDE)),
                }
                if not cam.any():
                    result["notes"].append(f"No part of the poster speaks for {result['genre']} to the {titles[name]} model.")
        if overviews:
            words, scores = self.word_scores(image, overviews[0], index)
            for name in WORD_MODELS:
                result["word_scores"][name] = {
                    "title": titles[name],
                    "probability": result["probabilities"][name],
                    "words": list(zip(words, scores[name])),
                }
            if len(overviews[0].split()) > len(words):
                result["notes"].append(f"Only the first {len(words)} words were scored.")
        if image is not None and overviews:
            result["modalities"] = self.modalities(fusion, image, overviews)
        return result

    # ---- Grad-CAM ------------------------------------------------------------------------------

    def grad_cam(self, name: str, inputs: dict[str, np.ndarray], present: np.ndarray, index: int,
                 maps: np.ndarray | None = None) -> np.ndarray:
        """The Grad-CAM map (h x w over the model's square input, >= 0, max 1 unless all zero) of
        `name`'s logit for genre `index`, for one movie's named model inputs (a missing modality
        blanked) and, for the fusion model, which modalities it has (1 x 2). `maps`: a frozen poster
        encoder's feature map of the poster (1 x h x w x channels), which its features in `inputs`
        pool; the map is of it. The logit, not the probability: calibration and the sigmoid are
        monotone, so the map is the same, and a saturated sigmoid would flatten the gradient."""
        from genre_hf.modeling.models import model_arrays

        arrays = model_arrays(self.predictor.models[name], inputs, present)
        if maps is None:
            cam = self._traced(f"grad_cam_{name}", self._trace_gradients, name)(arrays, np.int32(index))
        else:
            del arrays[self.predictor.encoders["poster"].input_name]  # computed from the maps, in the gradient's path
            cam = self._traced(f"grad_cam_maps_{name}", self._trace_map_gradients, name)(arrays, maps, np.int32(index))
        cam = np.asarray(cam)[0]
        peak = cam.max()
        return cam / peak if peak > 0 else np.zeros_like(cam)

    def _traced(self, key: str, trace, *args):
        """A traced function made once (two requests at once never trace it twice)."""
        with self._lock:
            if key not in self._functions:
                self._functions[key] = trace(*args)
            return self._functions[key]

    def _logit_probe(self, name: str, outputs: list | None):
        """(a model from `name`'s inputs to `outputs` (if any) and its head's input, a function from that
        input and a genre to the genre's logit): the head's input is the logits when the head is an
        Activation (fusion), the features when it is a sigmoid Dense (the single models)."""
        import keras
        import tensorflow as tf

        from genre_hf.modeling.models import output_layer

        model = self.predictor.models[name]
        head = model.get_layer(output_layer(name))
        probe = keras.Model(model.inputs, [*outputs, head.input] if outputs else head.input)
        dense = isinstance(head, keras.layers.Dense)

        def logit(before, genre):
            logits = tf.matmul(before, head.kernel) + head.bias if dense else before
            return tf.gather(logits, genre, axis=1)

        return probe, logit

    def _trace_gradients(self, name: str):
        """A tf.function with a fixed input signature (any batch size, the genre as a tensor), so
        repeated calls, for any genre, never retrace."""
        import tensorflow as tf

        predictor = self.predictor
        model = predictor.models[name]
        probe, logit = self._logit_probe(name, [model.get_layer(predictor.encoders["poster"].last_conv_layer).output])

        @traced([predictor.network.signature(model), tf.TensorSpec((), tf.int32)])
        def gradients(batch, genre):
            with tf.GradientTape() as tape:
                activations, before = probe(batch, training=False)
                score = logit(before, genre)
            return _cam(activations, tape.gradient(score, activations))

        return gradients

    def _trace_map_gradients(self, name: str):
        """As `_trace_gradients`, for a frozen poster encoder: the model's poster input is the pooling
        of the given feature map, so the gradient reaches the map through the pooling (one channel
        weight per channel whatever the position: a mean's gradient is the same at every position)."""
        import tensorflow as tf

        predictor = self.predictor
        encoder = predictor.encoders["poster"]
        model = predictor.models[name]
        probe, logit = self._logit_probe(name, None)
        specs = predictor.network.signature(model)
        poster_spec = specs.pop(encoder.input_name)

        @traced([specs, tf.TensorSpec((None, None, None, None), tf.float32), tf.TensorSpec((), tf.int32)])
        def gradients(batch, maps, genre):
            with tf.GradientTape() as tape:
                tape.watch(maps)
                features = tf.ensure_shape(encoder.pool_maps(maps), poster_spec.shape)
                before = probe({**batch, encoder.input_name: features}, training=False)
                score = logit(before, genre)
            return _cam(maps, tape.gradient(score, maps))

        return gradients

    # ---- word occlusion --------------------------------------------------------------------------

    def word_scores(self, image: np.ndarray | None, overview: str, index: int) -> tuple[list[str], dict[str, list]]:
        """The overview's words (whitespace-separated, as written) and, per model in WORD_MODELS,
        each word's score: p(genre | whole overview) - p(genre | overview without that word).

        All variants go through the featurizer and each model in one batch; variants whose model
        inputs equal the whole overview's (words past what the encoder reads) score exactly 0
        without a forward pass.
        """
        predictor = self.predictor
        words = overview.split()[:MAX_WORDS]
        whole = overview if len(words) == len(overview.split()) else " ".join(words)
        texts = [whole] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        features = predictor.featurizer.overview_inputs(texts)
        seen, unique_rows, rows = {}, [], []  # distinct inputs, the first text with each, each text's distinct input
        for row in range(len(texts)):
            key = b"".join(array[row].tobytes() for array in features.values())
            if key not in seen:
                seen[key] = len(unique_rows)
                unique_rows.append(row)
            rows.append(seen[key])
        inputs = {key: array[unique_rows] for key, array in features.items()}
        present = np.tile(np.array([[1.0 if image is not None else 0.0, 1.0]], np.float32), (len(unique_rows), 1))
        empty = np.array([not texts[row].strip() for row in unique_rows])
        scores = {}
        for name in WORD_MODELS:
            raw = self._text_side(inputs, present, image) if name == "fusion" else predictor.raw_probabilities(name, inputs)
            calibrated = predictor.calibrated(name, raw)[:, index]
            if name == "fusion":
                calibrated = self._blank_where_unreadable(calibrated, image, index, empty)
            values = calibrated[0] - calibrated[rows]
            scores[name] = [float(value) if np.isfinite(value) else None for value in values[1:]]
        return words, scores

    def _text_side(self, overview_inputs: dict, present: np.ndarray, image: np.ndarray | None) -> np.ndarray:
        """The fusion model's raw outputs for many overviews with one poster: the poster branch runs
        once and its embedding is shared by every row (the same graph from the embedding on)."""
        featurizer = self.predictor.featurizer
        poster = featurizer.poster_inputs(image) if image is not None else featurizer.blank_inputs("poster", 1)
        batch = {**overview_inputs, "modalities": present}
        return np.asarray(self._traced("text_side", self._trace_text_side)(next(iter(poster.values())), batch))

    def _trace_text_side(self):
        import keras
        import tensorflow as tf

        from genre_hf.modeling.fusion import MODALITIES_INPUT

        encoder = self.predictor.encoders["poster"]
        model = self.predictor.models["fusion"]
        by_name = {tensor.name: tensor for tensor in model.inputs}
        if f"{encoder.modality}_embedding" in {layer.name for layer in model.layers}:
            embedding = model.get_layer(f"{encoder.modality}_embedding").output
            poster_branch = keras.Model(by_name[encoder.input_name], embedding)
        else:  # the head reads a frozen encoder's features themselves (config.fusion_reads_features)
            embedding = by_name[encoder.input_name]
            poster_branch = lambda poster, training: poster  # noqa: E731
        others = [name for name in by_name if name != encoder.input_name]
        rest = keras.Model([embedding, *(by_name[name] for name in others)], model.output)
        specs = self.predictor.network.signature(model)
        poster_spec = specs[encoder.input_name]
        signature = [tf.TensorSpec((1, *poster_spec.shape[1:]), poster_spec.dtype), {name: specs[name] for name in others}]

        @traced(signature)
        def text_side(poster, batch):
            shared = poster_branch(poster, training=False)
            count = tf.shape(batch[MODALITIES_INPUT])[0]
            rows = tf.repeat(shared, count, axis=0)
            return rest([rows, *(batch[name] for name in others)], training=False)

        return text_side

    def _blank_where_unreadable(self, calibrated: np.ndarray, image, index: int, empty: np.ndarray) -> np.ndarray:
        """A variant the fusion model cannot read (no word left, or none the encoder knows) is, to
        it, no overview: use its answer with the overview blanked, as `predict(poster=...)` gives."""
        unreadable = empty | ~np.isfinite(calibrated)
        if not unreadable.any():
            return calibrated
        if image is None:
            return np.where(unreadable, np.nan, calibrated)  # neither input left: nothing to compare with
        blanked = self.predictor.probabilities(image, None)["fusion"][0, index]
        return np.where(unreadable, blanked, calibrated)

    # ---- modalities ----------------------------------------------------------------------------

    def modalities(self, both: np.ndarray, image: np.ndarray, overviews: list[str]) -> list[dict]:
        """Per genre, most likely first: the fusion probability with both inputs, with the poster
        blanked and with the overview blanked, and what each input adds (both minus without it)."""
        predictor = self.predictor
        poster_blanked = predictor.probabilities(None, overviews)["fusion"][0]
        overview_blanked = predictor.probabilities(image, None)["fusion"][0]
        rows = []
        for i in np.argsort(-both, kind="stable"):
            rows.append({
                "genre": predictor.genres[i],
                "both": float(both[i]),
                "poster_blanked": float(poster_blanked[i]),
                "overview_blanked": float(overview_blanked[i]),
                "poster_adds": float(both[i]) - float(poster_blanked[i]),
                "overview_adds": float(both[i]) - float(overview_blanked[i]),
            })
        return rows


# ---- helpers -------------------------------------------------------------------------------------


def _cam(activations, gradients):
    """Grad-CAM from a feature map and the logit's gradient with respect to it (TensorFlow tensors,
    N x h x w x channels): each channel weighted by its mean gradient, summed, rectified."""
    import tensorflow as tf

    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # one weight per channel
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def top_genre(probabilities: np.ndarray, thresholds: np.ndarray, genres: list[str]) -> str:
    """The most likely genre over its threshold (what `predict` lists first), else the most likely."""
    order = np.argsort(-probabilities, kind="stable")
    over = [i for i in order if probabilities[i] >= thresholds[i]]
    return genres[over[0] if over else order[0]]


def pick_genre(genre, genres: list[str]) -> str:
    """`genre` as the model spells it (case does not matter), or a ValueError naming the choices."""
    if isinstance(genre, str):
        match = {g.lower(): g for g in genres}.get(genre.strip().lower())
        if match:
            return match
    raise ValueError(f"unknown genre {genre!r}: choose one of {', '.join(genres)}")


def poster_size(poster) -> tuple[int, int]:
    """(width, height) of the poster as given, for its aspect ratio; read from the header only
    (the poster has already been decoded and checked by `poster_to_array`)."""
    if isinstance(poster, np.ndarray):
        return int(poster.shape[1]), int(poster.shape[0])
    if isinstance(poster, Image.Image):
        return poster.size
    if isinstance(poster, dict):  # a datasets Image cell
        poster = poster.get("bytes") or poster.get("path")
    source = io.BytesIO(poster) if isinstance(poster, (bytes, bytearray)) else Path(poster)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as image:
            return image.size


def fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) with the longest side `side` and the aspect ratio of `size`."""
    width, height = size
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def heat_map(cam: np.ndarray, size: tuple[int, int], side: int) -> np.ndarray:
    """The square Grad-CAM grid stretched back to the poster's aspect, longest side `side`, in [0, 1]."""
    width, height = fit(size, side)
    image = Image.fromarray(cam.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def display_poster(poster, size: tuple[int, int]) -> np.ndarray:
    """The poster at overlay size and its own aspect, decoded by the same checked path as for the model."""
    square = poster_to_array(poster, OVERLAY_SIDE)
    return np.asarray(Image.fromarray(square).resize(fit(size, OVERLAY_SIDE), Image.Resampling.BILINEAR))


def colorize(heat: np.ndarray) -> np.ndarray:
    """H x W in [0, 1] -> H x W x 3 float RGB along COLORMAP."""
    return np.stack([np.interp(heat, COLORMAP[:, 0], COLORMAP[:, channel]) for channel in (1, 2, 3)], axis=-1)


def overlay_png(display: np.ndarray, heat: np.ndarray) -> bytes:
    """The heat map over the poster as PNG bytes: the colour shows in proportion to the heat, so
    what the model ignored stays visible as it is."""
    alpha = OVERLAY_ALPHA * heat[..., None]
    blended = display.astype(np.float32) * (1 - alpha) + colorize(heat) * alpha
    buffer = io.BytesIO()
    Image.fromarray(np.clip(blended, 0, 255).round().astype(np.uint8)).save(buffer, format="PNG", compress_level=1)  # fast; a poster-sized PNG stays small
    return buffer.getvalue()


def to_jsonable(explanation: dict, decimals: int = 4) -> dict:
    """The explanation as JSON-able data: heat maps as lists of rows (rounded), PNGs as base64,
    (word, score) pairs as lists."""

    def convert(value):
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(item) for item in value]
        if isinstance(value, np.ndarray):
            return np.round(value.astype(np.float64), decimals).tolist()
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, (np.floating, np.integer)):
            return value.item()
        return value

    return convert(explanation)
