"""Batch speed of the pretrained family against its limit, in one run, on the same movies.

    .venv/bin/python benchmarks/pretrained_speed.py [MODEL] [--movies 611] [--repeats 5]

The limit is the frozen encoders' own forward passes over the movies, nothing genre_hf adds: the
MiniLM backbone's over their overviews, tokenized beforehand, sorted by length and padded per batch
of 64, and the poster backbone's (when the poster encoder is frozen, as EfficientNet-Lite is) over
their posters, decoded beforehand, in its own batches. Against it, in `--repeats` rounds that each
run them in turn (fresh embedding and token memories every time):
- `predict` of a batch (poster paths and overviews in, answers out: decoding, tokenizing, all
  three models, calibration);
- embedding for training (each frozen encoder's features, tokenizing and decoding included), in
  the featurizer's chunks of movies as training embeds them.
Also prints the word pieces each pads to: genre_hf's batches (`length_batches`) hold at most
BATCH_TOKENS padded word pieces, so they pad less than the limit's batches of 64.
Prints movies/s (the best round of each) and each as a ratio of the limit: the ratio of the best
times, and the median and range of the rounds' own ratios (a round's runs share the machine's
load of that moment, so its ratio moves less than the times do).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: this checkout's genre_hf and benchmarks
from benchmarks._data import data_folder  # noqa: E402


def interleaved(functions: dict, repeats: int) -> dict[str, list[float]]:
    """`repeats` timings of each function, run in turn (one of each, then again), so a change in the
    machine's load over the run reaches every one of them alike."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model-pretrained"))
    parser.add_argument("--movies", type=int, default=611)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import numpy as np

    from genre_hf import GenreClassifier
    from genre_hf.data.loader import load_movies
    from genre_hf.data.posters import poster_to_array
    from genre_hf.features.featurizer import CHUNK
    from genre_hf.modeling.encoders.keras_hub_image import BATCH as IMAGE_BATCH
    from genre_hf.modeling.encoders.keras_hub_text import length_batches, padded_tokens

    classifier = GenreClassifier.from_pretrained(args.model)
    movies, _ = load_movies(data_folder(), split=classifier.config.split)
    import datasets

    rows = movies["test"].cast_column("poster", datasets.Image(decode=False)).select(range(min(args.movies, len(movies["test"]))))
    posters = [row["poster"]["path"] for row in rows]
    overviews = [row["overview"] for row in rows]
    embedder = classifier.encoders["overview"]._embedder()
    poster_encoder = classifier.encoders["poster"]
    images = poster_encoder._embedder() if poster_encoder.frozen else None  # its `ImageEmbedder`
    decoded = np.stack([poster_to_array(path, classifier.featurizer.image_size) for path in posters])
    count = len(overviews)

    ids = embedder.token_ids(overviews)
    lengths = [len(x) for x in ids]
    order = np.argsort(lengths, kind="stable")

    batches = [padded_tokens(ids, order[start : start + 64]) for start in range(0, count, 64)]
    ours = [padded_tokens(ids, rows) for rows in length_batches(lengths)]  # predict's own, for what predict adds to them
    embedder._pooled(batches[0])  # traced before timing

    def posters_alone():
        if images is not None:
            for start in range(0, count, IMAGE_BATCH):
                images._pooled(decoded[start : start + IMAGE_BATCH]).numpy()

    def backbone(over):
        def run():
            for tokens in over:
                embedder._pooled(tokens).numpy()
            posters_alone()
        return run

    def forget():
        embedder._memory.clear()
        embedder._token_memory.clear()
        if images is not None:
            images._memory.clear()

    def predict():
        forget()
        classifier.predict(poster=posters, overview=overviews)

    def embed():
        forget()
        for start in range(0, count, CHUNK):
            embedder(overviews[start : start + CHUNK])
            if images is not None:
                images(np.stack([poster_to_array(path, classifier.featurizer.image_size) for path in posters[start : start + CHUNK]]))

    classifier.predict(poster=posters[:2], overview=overviews[:2])  # traced before timing
    times = interleaved({"limit": backbone(batches), "ours": backbone(ours), "predict": predict, "embed": embed,
                         "posters": posters_alone}, args.repeats)
    best = {name: min(values) for name, values in times.items()}
    mean_tokens = np.mean([len(x) for x in ids])
    print(f"{count} test-split movies, mean {mean_tokens:.0f} WordPiece tokens an overview (with [CLS] and [SEP])")
    padded = {
        "the limit's batches of 64": sum(tokens.size for tokens in batches),
        "predict's batches": sum(tokens.size for tokens in ours),
        f"training's, in chunks of {CHUNK}": sum(len(rows) * max(lengths[start + i] for i in rows) for start in range(0, count, CHUNK)
                                                 for rows in length_batches(lengths[start : start + CHUNK])),
    }
    print("word pieces padded to: " + ", ".join(f"{name} {value:,}" for name, value in padded.items()) + f" ({sum(lengths):,} unpadded)")
    print(f"{'backbones alone (the limit)':>34}: {count / best['limit']:7.1f} movies/s"
          + (f" (the poster backbone alone: {count / best['posters']:.1f} movies/s, {poster_encoder.title})" if images else ""))
    print(f"{'backbones alone, on predict batches':>34}: {count / best['ours']:7.1f} movies/s   {best['limit'] / best['ours']:.2f}x the limit")
    for name, title, goal in (("predict", "predict, a batch", " (goal 0.95x)"), ("embed", "embedding for training", " (goal 0.95x)")):
        rounds = sorted(limit_time / time_ for limit_time, time_ in zip(times["limit"], times[name]))
        print(f"{title:>34}: {count / best[name]:7.1f} movies/s   {best['limit'] / best[name]:.2f}x the limit{goal}; "
              f"rounds: median {statistics.median(rounds):.2f}x, {rounds[0]:.2f}-{rounds[-1]:.2f}x")
    rounds = sorted(backbone_time / time_ for backbone_time, time_ in zip(times["ours"], times["predict"]))
    print(f"{'what predict adds to its backbones':>34}: {best['ours'] / best['predict']:.2f}x the backbones on the same batches; "
          f"rounds: median {statistics.median(rounds):.2f}x")


if __name__ == "__main__":
    main()
