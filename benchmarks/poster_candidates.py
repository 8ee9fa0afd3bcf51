"""Poster CNN candidates, measured one at a time: size, aspect and padding, design, augmentation, schedule, EMA, SWA.

    .venv/bin/python benchmarks/poster_candidates.py [--only NAME ...] [--seeds 42 43 44]

Every candidate is the poster model as it was before the cosine schedule (the config's CNN on
64 x 64 posters, class-weighted BCE, Adam at a constant 2e-3, batch 64, up to 15 epochs with
patience 4, the weights of the epoch of lowest validation loss) with the settings its row names
changed, trained in this process on the training split of the shared
data. Posters are decoded once per size with Pillow (the longest side reduced by whole factors,
then bilinear, as `data.posters` does) and kept in memory, so the rows differ only in what they
name. Prints, per candidate and seed: validation mAP, test mAP and test micro F1 at thresholds
tuned on validation (the calibration `genre-hf train` fits), the best epoch and the fit's seconds.
Choose on validation; test shows whether the choice held.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genre_hf.training.fit import KeepBestWeights

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb-multimodal"
BEFORE = {
    "size": (64, 64), "filters": (16, 32, 64, 128), "stem_stride": 2, "block": "plain", "dropout": 0.4, "embedding": 128,
    "flip": True, "shift": 0.06, "zoom": 0.0, "mixup": 0.0, "smoothing": 0.0, "schedule": "constant", "epochs": 15,
    "patience": 4, "ema": 0.0, "learning_rate": 2e-3, "weight_decay": 0.0, "flip_at_test": False, "pad": False, "swa": 0,
}
COSINE = {"schedule": "cosine", "epochs": 20, "patience": 20}
CANDIDATES = {  # name -> settings changed from BEFORE
    "constant rate, patience 4 (64 x 64, squashed: before)": {},
    "96 x 64, true aspect": {"size": (96, 64)},
    "128 x 86, true aspect, full size": {"size": (128, 86)},
    "96 x 64, widths 24-48-96-192": {"size": (96, 64), "filters": (24, 48, 96, 192)},
    "96 x 64, residual blocks": {"size": (96, 64), "block": "residual"},
    "96 x 64, depthwise-separable blocks": {"size": (96, 64), "block": "separable", "filters": (32, 64, 128, 256)},
    "96 x 64, mixup 0.2": {"size": (96, 64), "mixup": 0.2},
    "96 x 64, label smoothing 0.1": {"size": (96, 64), "smoothing": 0.1},
    "96 x 64, zoom 0.1": {"size": (96, 64), "zoom": 0.1},
    "96 x 64, cosine with warm-up, 20 epochs": {"size": (96, 64), **COSINE},
    "96 x 64, EMA 0.99": {"size": (96, 64), "ema": 0.99},
    "96 x 64, AdamW 1e-2": {"size": (96, 64), "weight_decay": 1e-2},
    "64 x 64, cosine with warm-up, 20 epochs": COSINE,
    "96 x 64, cosine 20 epochs, EMA 0.99": {"size": (96, 64), **COSINE, "ema": 0.99},
    "96 x 64, cosine 20 epochs, label smoothing 0.1": {"size": (96, 64), **COSINE, "smoothing": 0.1},
    "96 x 64, cosine 30 epochs": {"size": (96, 64), **COSINE, "epochs": 30, "patience": 30},
    "96 x 64, cosine 20 epochs, flipped poster averaged in at test": {"size": (96, 64), **COSINE, "flip_at_test": True},
    "64 x 64, cosine 20 epochs, EMA 0.99": {**COSINE, "ema": 0.99},
    "64 x 64, cosine with warm-up, 15 epochs (shipped)": {**COSINE, "epochs": 15, "patience": 15},
    "64 x 64, cosine with warm-up, 30 epochs": {**COSINE, "epochs": 30, "patience": 30},
    "64 x 64, cosine 20 epochs, learning rate 4e-3": {**COSINE, "learning_rate": 4e-3},
    "64 x 64, true aspect padded to a square, cosine 15 epochs": {**COSINE, "epochs": 15, "patience": 15, "pad": True},
    "64 x 64, cosine 15 epochs, SWA of the last 5 epochs": {**COSINE, "epochs": 15, "patience": 15, "swa": 5},
}


def poster_array(paths: list[str], size: tuple[int, int], pad: bool = False) -> np.ndarray:
    """Posters resized to `size`; with `pad`, resized at their own aspect to fit inside it and centred on
    black (an 86 x 128 poster becomes 43 x 64 inside 64 x 64)."""
    height, width = size
    out = np.zeros((len(paths), height, width, 3), np.uint8)
    for row, path in enumerate(paths):
        with Image.open(path) as image:
            image.draft("RGB", (width * 2, height * 2))
            inner = (width, height)
            if pad:
                scale = min(width / image.width, height / image.height)
                inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            resized = np.asarray(image.convert("RGB").resize(inner, Image.Resampling.BILINEAR, reducing_gap=3.0))
            top, left = (height - inner[1]) // 2, (width - inner[0]) // 2
            out[row, top : top + inner[1], left : left + inner[0]] = resized
    return out


def load(data: Path):
    from datasets import Image as ImageFeature

    from genre_hf.config import GenreConfig
    from genre_hf.data.loader import collect_genres, load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.features.featurizer import multi_hot

    movies, _ = load_movies(data, split=SplitSpec.from_config(GenreConfig()), decode_posters=False)
    genres = collect_genres(movies["train"])
    splits = {}
    for name, part in movies.items():
        part = part.cast_column("poster", ImageFeature(decode=False))
        splits[name] = ([poster["path"] for poster in part["poster"]], multi_hot(part["genres"], genres))
    return genres, splits


def build(settings: dict, num_genres: int, seed: int):
    import keras
    from keras import layers

    height, width = settings["size"]
    poster = keras.Input((height, width, 3), dtype="uint8", name="poster")
    x = layers.Rescaling(1 / 255.0)(poster)
    if settings["flip"]:
        x = layers.RandomFlip("horizontal", seed=seed)(x)
    if settings["shift"]:
        x = layers.RandomTranslation(settings["shift"], settings["shift"], fill_mode="nearest", seed=seed)(x)
    if settings["zoom"]:
        x = layers.RandomZoom(settings["zoom"], fill_mode="nearest", seed=seed)(x)
    for block, filters in enumerate(settings["filters"], start=1):
        stride = settings["stem_stride"] if block == 1 else 1
        if settings["block"] == "plain" or block == 1:
            x = _conv(x, filters, stride)
        elif settings["block"] == "residual":
            shortcut = layers.Conv2D(filters, 1, use_bias=False)(x)
            y = _conv(x, filters, 1)
            y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            x = layers.Activation("relu")(layers.Add()([y, shortcut]))
        elif settings["block"] == "separable":
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = _conv(x, filters, 1, kernel=1)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(settings["dropout"])(x)
    x = layers.Dense(settings["embedding"], activation="relu")(x)
    x = layers.Dropout(settings["dropout"])(x)
    return keras.Model(poster, layers.Dense(num_genres, activation="sigmoid")(x))


def _conv(x, filters: int, stride: int, kernel: int = 3):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    return layers.Activation("relu")(layers.BatchNormalization()(x))


def dataset(images, labels, settings: dict, seed: int, training: bool):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32)))
    if not training:
        return data.batch(256).prefetch(2)
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(64, drop_remainder=True)
    if settings["smoothing"]:
        smoothing = settings["smoothing"]
        data = data.map(lambda x, y: (x, y * (1 - smoothing) + smoothing / 2))
    if settings["mixup"]:  # each movie mixed with the next in its batch (the images rounded back to uint8)
        alpha, generator = settings["mixup"], tf.random.Generator.from_seed(seed)

        def mix(x, y):  # lam ~ Beta(alpha, alpha) as a ratio of two gamma draws, the larger share kept on x
            seeds = generator.make_seeds(2)
            a, b = (tf.random.stateless_gamma((tf.shape(x)[0],), seed=seeds[:, i], alpha=alpha) for i in range(2))
            lam = tf.maximum(a / (a + b), b / (a + b))
            other = tf.roll(tf.range(tf.shape(x)[0]), 1, 0)
            xf = tf.cast(x, tf.float32)
            mixed = lam[:, None, None, None] * xf + (1 - lam[:, None, None, None]) * tf.gather(xf, other)
            return tf.cast(tf.round(mixed), tf.uint8), lam[:, None] * y + (1 - lam[:, None]) * tf.gather(y, other)

        data = data.map(mix)
    return data.prefetch(2)


def fit_and_score(settings: dict, genres, splits, posters, seed: int) -> dict:
    import keras

    from genre_hf.config import GenreConfig
    from genre_hf.evaluation.scoring import score
    from genre_hf.training.calibration import fit_calibration
    from genre_hf.training.fit import learning_rate_at_each_step
    from genre_hf.training.losses import make_loss

    keras.utils.set_random_seed(seed)
    config = GenreConfig(genres=list(genres), seed=seed)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (
        (posters[name], splits[name][1]) for name in ("train", "validation", "test"))
    model = build(settings, len(genres), seed)
    steps = len(train_x) // 64
    rate = learning_rate_at_each_step(settings["schedule"], settings["learning_rate"], settings["epochs"], steps)
    ema = {"use_ema": True, "ema_momentum": settings["ema"]} if settings["ema"] else {}
    optimizer = (keras.optimizers.AdamW(rate, weight_decay=settings["weight_decay"], **ema) if settings["weight_decay"]
                 else keras.optimizers.Adam(rate, **ema))
    model.compile(optimizer=optimizer, loss=make_loss(config, train_y))
    callbacks = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if settings["ema"] else []
    best = (EmaAwareBest(settings["patience"]) if settings["ema"] else
            AverageOfLastEpochs(settings["epochs"], settings["swa"]) if settings["swa"] else KeepBestWeights(settings["patience"]))
    started = time.perf_counter()
    model.fit(dataset(train_x, train_y, settings, seed, True), validation_data=dataset(val_x, val_y, settings, seed, False),
              epochs=settings["epochs"], callbacks=[*callbacks, best], verbose=0)
    seconds = time.perf_counter() - started
    raw = {name: predict(model, x, settings) for name, x in (("validation", val_x), ("test", test_x))}
    calibration = fit_calibration(config, train_y, val_y, {"poster": raw["validation"]})["poster"]
    validation, test = (score(raw[name], labels, calibration, config.genres) for name, labels in
                        (("validation", val_y), ("test", test_y)))
    return {"val_map": validation["map"], "val_f1": validation["tuned"]["micro_f1"], "test_map": test["map"],
            "test_f1": test["tuned"]["micro_f1"], "test_macro": test["tuned"]["macro_f1"], "epoch": best.best_epoch,
            "seconds": seconds}


def predict(model, images: np.ndarray, settings: dict) -> np.ndarray:
    outputs = model.predict(images, batch_size=256, verbose=0)
    if settings["flip_at_test"]:
        outputs = (outputs + model.predict(images[:, :, ::-1], batch_size=256, verbose=0)) / 2
    return outputs


class EmaAwareBest(KeepBestWeights):
    """KeepBestWeights for an EMA optimizer: the averaged weights are the ones validated and kept."""

    def on_test_end(self, logs=None):  # SwapEMAWeights has swapped the averages in for this evaluation
        self.averaged = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.best_epoch == epoch + 1:
            self.best_weights = self.averaged


class AverageOfLastEpochs(KeepBestWeights):
    """SWA: the model ends with the mean of its weights (batch-norm statistics included, the usual
    shortcut for recomputing them) at the ends of its last `count` epochs, instead of the best epoch's;
    best_epoch still reports where validation loss was lowest."""

    def __init__(self, epochs: int, count: int):
        super().__init__(patience=epochs)
        self.first, self.snapshots = epochs - count, []

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch >= self.first:
            self.snapshots.append(self.model.get_weights())

    def on_train_end(self, logs=None):
        self.model.set_weights([np.mean(values, axis=0) for values in zip(*self.snapshots)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--only", nargs="*", help="candidate names (or a unique start of one)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[42])
    args = parser.parse_args()
    chosen = [name for name in CANDIDATES if not args.only or any(name.startswith(start) for start in args.only)]
    genres, splits = load(Path(args.data))
    print(f"{len(splits['train'][0])} train, {len(splits['validation'][0])} validation, {len(splits['test'][0])} test movies")
    posters = {}
    print("| candidate | seed | val mAP | val micro F1 | test mAP | test micro F1 | test macro F1 | best epoch | fit (s) |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for name in chosen:
        settings = {**BEFORE, **CANDIDATES[name]}
        key = (settings["size"], settings["pad"])  # posters are decoded once per size and padding
        if key not in posters:
            (height, width), pad = key
            started = time.perf_counter()
            posters[key] = {split: poster_array(paths, (height, width), pad) for split, (paths, _) in splits.items()}
            print(f"  (posters decoded at {height} x {width}{', padded' if pad else ''} in "
                  f"{time.perf_counter() - started:.1f} s)", flush=True)
        results = []
        for seed in args.seeds:
            result = fit_and_score(settings, genres, splits, posters[key], seed)
            results.append(result)
            print(f"| {name} | {seed} | {result['val_map']:.3f} | {result['val_f1']:.3f} | {result['test_map']:.3f} | "
                  f"{result['test_f1']:.3f} | {result['test_macro']:.3f} | {result['epoch']} | {result['seconds']:.0f} |", flush=True)
        if len(results) > 1:
            mean = {key: np.mean([r[key] for r in results]) for key in results[0]}
            std = {key: np.std([r[key] for r in results]) for key in results[0]}
            print(f"| {name} | mean | {mean['val_map']:.3f} ± {std['val_map']:.3f} | {mean['val_f1']:.3f} | "
                  f"{mean['test_map']:.3f} ± {std['test_map']:.3f} | {mean['test_f1']:.3f} ± {std['test_f1']:.3f} | "
                  f"{mean['test_macro']:.3f} | {mean['epoch']:.1f} | {mean['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
