"""Past the TensorFlow limit: the pretrained family's frozen text encoder exported to TFLite (measured, not shipped).

    GENRE_HF_PRESET_MIRROR=../shared/models .venv/bin/python benchmarks/encoder_runtimes.py \
        [artifacts/model-pretrained] [--rounds 5]

Freezes the encoder's pooling pass (`TextEmbedder._pooled`: the MiniLM and the attention-mask means of
the model's layers) with its weights as constants and converts it with TensorFlow's TFLite converter,
as float32 and with dynamic-range int8 weights, then runs each with `tf.lite.Interpreter` (in
TensorFlow's package; 2 threads) on the same length batches `predict` cuts. Prints:

- each conversion's time and file size;
- how far each runtime's embeddings of the test overviews are from TensorFlow's;
- the speed of each on those batches against TensorFlow's pass, in alternating rounds (medians);
- the time from a file on disk to a first embedding, against building and tracing the KerasHub backbone;
- the shipped overview and fusion models' validation and test figures (micro F1 / macro F1 (tuned) /
  mAP, with the folder's own calibration) when their overview features come from each runtime.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imdb-multimodal"


def convert(pooled, int8: bool) -> bytes:
    """The traced pass as a TFLite model: weights as constants (TFLite would keep Keras's variables as
    uninitialised resources), builtin ops only, int8 weights with `int8`."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(pooled.get_concrete_function())])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


class LiteEncoder:
    """A converted pass run by the TFLite interpreter, one length batch at a time."""

    def __init__(self, path: Path):
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=2)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        self.interpreter.resize_tensor_input(self.input, tokens.shape, strict=False)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self.input, tokens)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def embed(run, embedder, texts: list[str]) -> np.ndarray:
    """`texts` embedded by `run` (a pass over one padded batch) in `predict`'s length batches."""
    from genre_hf.modeling.encoders.keras_hub_text import length_batches, padded_tokens

    ids = embedder.token_ids(texts)
    out = np.zeros((len(texts), embedder.dimension), np.float32)
    for rows in length_batches([len(x) for x in ids]):
        out[rows] = run(padded_tokens(ids, rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model-pretrained"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.features.featurizer import movie_features
    from genre_hf.inference.classifier import GenreClassifier

    classifier = GenreClassifier.from_pretrained(args.model)
    embedder = classifier.encoders["overview"]._embedder()
    movies, _ = load_movies(DATA, split=SplitSpec.from_config(classifier.config))
    features = {split: movie_features(movies[split], classifier.featurizer) for split in ("validation", "test")}

    with tempfile.TemporaryDirectory(prefix="encoder_runtimes-") as folder:  # 109 MB of converted files
        compare(classifier, embedder, features, Path(folder), args.rounds)


def compare(classifier, embedder, features: dict, folder: Path, rounds: int) -> None:
    from genre_hf.evaluation.scoring import score
    from genre_hf.modeling.encoders.keras_hub_text import KerasHubText, TextEmbedder

    test_texts = [text for text in features["test"].texts()["overview"] if text]
    runs = {"TensorFlow": lambda tokens: embedder._pooled(tokens).numpy()}
    for name, int8 in (("TFLite float32", False), ("TFLite int8 weights", True)):
        started = time.perf_counter()
        path = folder / f"{name.split()[-1]}.tflite"
        path.write_bytes(convert(embedder._pooled, int8))
        print(f"{name:>20}: converted in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 2**20:.1f} MB")
        started = time.perf_counter()
        runs[name] = LiteEncoder(path)
        runs[name](np.array([embedder.token_ids(["A retired hitman seeks revenge."])[0]], np.int32))
        print(f"{'':>20}  from the file to a first embedding: {time.perf_counter() - started:.3f} s")
    started = time.perf_counter()
    TextEmbedder(KerasHubText.resolved(classifier.config)[0], embedder.sequence_length, list(classifier.config.text_layers),
                 classifier.config.text_normalize_layers)._pooled(np.array([[101, 102]], np.int32))
    print(f"{'TensorFlow':>20}: building the KerasHub tokenizer and backbone and a first traced embedding: "
          f"{time.perf_counter() - started:.2f} s")

    reference = embed(runs["TensorFlow"], embedder, test_texts)
    print(f"\n{len(test_texts)} test overviews against TensorFlow's embeddings:")
    for name in list(runs)[1:]:
        got = embed(runs[name], embedder, test_texts)
        cosine = np.sum(got * reference, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
        print(f"{name:>20}: largest difference {np.abs(got - reference).max():.2g}, lowest cosine {cosine.min():.5f}")

    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            embed(run, embedder, test_texts)
            seconds[name].append(time.perf_counter() - started)
    print(f"\nspeed on predict's length batches (median of {rounds} alternating rounds):")
    base = statistics.median(seconds["TensorFlow"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:>20}: {median:.2f} s, {len(test_texts) / median:.0f} overviews/s, {base / median:.2f}x TensorFlow")

    print("\nthe folder's models with each runtime's overview features (micro F1 / macro F1 (tuned) / mAP):")
    for name, run in runs.items():
        cells = []
        for split, split_features in features.items():
            inputs = dict(split_features.inputs)
            texts = split_features.texts()["overview"]
            rows = np.flatnonzero([bool(text) for text in texts])
            inputs["overview_features"] = inputs["overview_features"].copy()
            inputs["overview_features"][rows] = embed(run, embedder, [texts[i] for i in rows])
            for model in ("overview", "fusion"):
                scores = score(classifier.raw_probabilities(model, inputs), split_features.labels, classifier.calibration[model],
                               classifier.config.genres)
                cells.append(f"{split} {model} {scores['tuned']['micro_f1']:.3f} / {scores['tuned']['macro_f1']:.3f} / {scores['map']:.3f}")
        print(f"{name:>20}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
