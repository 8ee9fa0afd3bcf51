"""Fusion-head candidates of the pretrained family, measured on one trained run's stored embeddings.

    .venv/bin/python benchmarks/fusion_candidates.py [--seeds 42 43 44] [--only NAME ...]

Trains the family once as `genre-hf train` does (seed 42: poster CNN, overview head, fusion head),
then keeps the trunks and refits only the fusion head for each candidate on the same stored
embeddings (the poster CNN's and the MiniLM's features): the shipped head, the neighbour vote's
settings, a label co-occurrence layer, and the mean of several heads' outputs (an ensemble of
seeds). Each head is calibrated on validation as training does. Prints, per candidate, the head of
each of `--seeds`, their mean and, with more than one seed, the ensemble of those heads: validation
and test micro F1 / macro F1 (tuned) / mAP, and the head's fit time and weights.

`--cross-fit K` adds one more candidate: the movies of `--cross-fit-pool` (train and validation by
default, or train alone) cut into K folds, one head per fold trained on the other folds (early
stopping on its own fold, the neighbour vote's index of the other folds' movies), the K heads'
outputs averaged on the splits outside the pool, and the calibration fitted on every pooled movie's
out-of-fold output. With validation in the pool, its "validation" figures are the validation
movies' out-of-fold outputs, scored with that calibration; with train alone, validation is scored
as test is, never fitted or tuned on. The test split is never used to fit or tune.

`--refit` adds the refit candidate: per seed, the shipped head trained on train (its epochs chosen
and its calibration fitted on validation), then a new head trained on train and validation together
(the neighbour vote's index of both) for the epochs validation chose, scored on test with the first
head's calibration. It has no validation figures (validation trained it); the first head's test
figures are printed beside it, a pair per seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb-multimodal"
CANDIDATES = {  # name -> (config settings changed from the family's, label co-occurrence layer)
    "shipped (k 25, temperature 0.05)": ({}, False),
    "no neighbour vote": ({"neighbour_k": 0}, False),
    "neighbour k 10": ({"neighbour_k": 10}, False),
    "neighbour k 50": ({"neighbour_k": 50}, False),
    "neighbour temperature 0.02": ({"neighbour_temperature": 0.02}, False),
    "neighbour temperature 0.1": ({"neighbour_temperature": 0.1}, False),
    "label co-occurrence layer": ({}, True),
}


def shown(figures) -> str:
    """micro F1 / macro F1 / mAP as printed."""
    return " / ".join(f"{value:.3f}" for value in figures)


def with_cooccurrence(head, num_genres: int):
    """The head's answer corrected by what its other genres say: logit(p) + W p, with W (genres x
    genres) starting at zero, so training starts from the head as it is."""
    import keras
    from keras import layers

    probabilities = head.output
    logits = layers.Lambda(lambda p: keras.ops.log(keras.ops.clip(p, 1e-7, 1 - 1e-7) / keras.ops.clip(1 - p, 1e-7, 1)))(probabilities)
    correction = layers.Dense(num_genres, kernel_initializer="zeros", name="cooccurrence")(probabilities)
    return keras.Model(head.inputs, layers.Activation("sigmoid")(layers.Add()([logits, correction])), name="fusion_head_cooccurrence")


def main() -> None:
    import keras

    from genre_hf.config import GenreConfig
    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.evaluation.scoring import score
    from genre_hf.features.featurizer import MovieFeatures
    from genre_hf.modeling.models import build_models, input_names, model_arrays
    from genre_hf.training.calibration import fit_calibration
    from genre_hf.training.fit import fit_model
    from genre_hf.training.trainer import head_features, train_all

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seeds", nargs="*", type=int, default=[42])
    parser.add_argument("--only", nargs="*", help="candidate names (or a unique start of one)")
    parser.add_argument("--cross-fit", type=int, default=0, metavar="K", help="also the K-fold candidate (see above)")
    parser.add_argument("--cross-fit-pool", choices=("train+validation", "train"), default="train+validation",
                        help="the movies cut into folds; with train alone, validation is never fitted or tuned on")
    parser.add_argument("--refit", action="store_true", help="also the refit on train + validation (see above)")
    args = parser.parse_args()
    quiet = lambda message: None  # noqa: E731
    base = GenreConfig.for_family("pretrained", seed=42)
    movies, _ = load_movies(args.data, split=SplitSpec.from_config(base))
    started = time.perf_counter()
    run = train_all(base, movies, log=quiet)
    prepared = run.prepared
    head, embedder = run.network.fusion_head()
    stored = {split: head_features(embedder, features, input_names(head)) for split, features in prepared.splits.items()}
    labels = {split: features.labels for split, features in stored.items()}
    print(f"Trained once in {time.perf_counter() - started:.0f} s; fusion heads refitted on the stored embeddings")
    print("| candidate | heads | validation | test | fit a head (s) | head weights (MB) |\n|---|---|---|---|---|---|", flush=True)

    def new_head(config, inputs: dict, head_labels: np.ndarray):
        """A fresh fusion head of `config`, its statistics (the neighbour vote's index) from these movies."""
        network = build_models(config, prepared.encoders, len(prepared.tokenizer.vocabulary))
        network.set_statistics(inputs, head_labels)
        return network.fusion_head()[0]

    def figures(raw: dict, config) -> np.ndarray:
        """[validation, test] x [micro F1, macro F1 (tuned), mAP], calibrated on validation."""
        calibration = fit_calibration(config, labels["train"], labels["validation"], {"fusion": raw["validation"]})["fusion"]
        reports = [score(raw[split], labels[split], calibration, config.genres) for split in ("validation", "test")]
        return np.array([[report["tuned"]["micro_f1"], report["tuned"]["macro_f1"], report["map"]] for report in reports])

    for name, (settings, cooccurrence) in CANDIDATES.items():
        if args.only and not any(name.startswith(start) for start in args.only):
            continue
        config = dataclasses.replace(prepared.config, **settings)
        outputs, seconds = [], []
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            candidate = new_head(dataclasses.replace(config, seed=seed), prepared.train.inputs, prepared.train.labels)
            if cooccurrence:
                candidate = with_cooccurrence(candidate, config.num_genres)
            fit = fit_model(candidate, "fusion", config, stored["train"], stored["validation"], config.epochs_fusion,
                            config.fusion_learning_rate, log=quiet)
            seconds.append(fit.seconds)
            outputs.append({split: candidate.predict(model_arrays(candidate, stored[split].inputs), batch_size=256, verbose=0)
                            for split in ("validation", "test")})
            size = sum(np.prod(weight.shape) * 4 for weight in candidate.trainable_weights) / 1e6
        singles = [figures(raw, config) for raw in outputs]
        for seed, (validation, test), time_taken in zip(args.seeds, singles, seconds):
            print(f"| {name} | seed {seed} | {shown(validation)} | {shown(test)} | {time_taken:.0f} | {size:.1f} |", flush=True)
        if len(outputs) > 1:
            validation, test = np.mean(singles, axis=0)
            print(f"| {name} | mean of {len(outputs)} single heads | {shown(validation)} | {shown(test)} | {np.mean(seconds):.0f} | {size:.1f} |")
            mean = {split: np.mean([raw[split] for raw in outputs], axis=0) for split in ("validation", "test")}
            validation, test = figures(mean, config)
            print(f"| {name} | mean of {len(outputs)} heads' outputs | {shown(validation)} | {shown(test)} | {sum(seconds):.0f} | "
                  f"{size * len(outputs):.1f} |", flush=True)

    def rows(features, index: np.ndarray) -> MovieFeatures:
        return MovieFeatures([features.ids[i] for i in index], {key: value[index] for key, value in features.inputs.items()},
                             features.labels[index])

    def pooled(*parts) -> MovieFeatures:
        return MovieFeatures([movie for part in parts for movie in part.ids],
                             {key: np.concatenate([np.asarray(part.inputs[key]) for part in parts]) for key in parts[0].inputs},
                             np.concatenate([np.asarray(part.labels) for part in parts]))

    if args.cross_fit > 1:
        config = prepared.config
        pool_splits = args.cross_fit_pool.split("+")
        pool, raw_pool = pooled(*(stored[name] for name in pool_splits)), pooled(*(prepared.splits[name] for name in pool_splits))
        in_pool = np.concatenate([np.full(len(stored[name]), name) for name in pool_splits])
        outside = [name for name in ("validation", "test") if name not in pool_splits]
        for seed in args.seeds:
            fold = np.random.default_rng(seed).permutation(len(pool)) % args.cross_fit
            out_of_fold = np.zeros(pool.labels.shape, np.float32)
            predicted, seconds = {name: [] for name in outside}, 0.0
            for k in range(args.cross_fit):
                keep, hold = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
                keras.utils.set_random_seed(seed * 100 + k)
                fold_config = dataclasses.replace(config, seed=seed, neighbour_index_size=len(keep))
                candidate = new_head(fold_config, rows(raw_pool, keep).inputs, pool.labels[keep])
                fit = fit_model(candidate, "fusion", config, rows(pool, keep), rows(pool, hold), config.epochs_fusion,
                                config.fusion_learning_rate, log=quiet)
                seconds += fit.seconds
                out_of_fold[hold] = candidate.predict(model_arrays(candidate, rows(pool, hold).inputs), batch_size=256, verbose=0)
                for name in outside:
                    predicted[name].append(candidate.predict(model_arrays(candidate, stored[name].inputs), batch_size=256, verbose=0))
            size = sum(np.prod(weight.shape) * 4 for weight in candidate.trainable_weights) / 1e6
            calibration = fit_calibration(config, pool.labels, pool.labels, {"fusion": out_of_fold})["fusion"]
            raw = {name: np.mean(outputs, axis=0) for name, outputs in predicted.items()}
            if "validation" in pool_splits:  # the validation movies' out-of-fold outputs
                raw["validation"] = out_of_fold[in_pool == "validation"]
            reports = [score(raw[name], labels[name], calibration, config.genres) for name in ("validation", "test")]
            validation, test = ([report["tuned"]["micro_f1"], report["tuned"]["macro_f1"], report["map"]] for report in reports)
            print(f"| cross-fitted over {args.cross_fit_pool}, {args.cross_fit} heads | folds of seed {seed} | {shown(validation)} | "
                  f"{shown(test)} | {seconds:.0f} | {size * args.cross_fit:.1f} |", flush=True)

    if args.refit:
        config = prepared.config
        pool, raw_pool = pooled(stored["train"], stored["validation"]), pooled(prepared.train, prepared.validation)
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            first = new_head(dataclasses.replace(config, seed=seed), prepared.train.inputs, prepared.train.labels)
            fit = fit_model(first, "fusion", config, stored["train"], stored["validation"], config.epochs_fusion,
                            config.fusion_learning_rate, log=quiet)
            outputs = {split: first.predict(model_arrays(first, stored[split].inputs), batch_size=256, verbose=0)
                       for split in ("validation", "test")}
            calibration = fit_calibration(config, labels["train"], labels["validation"], {"fusion": outputs["validation"]})["fusion"]
            keras.utils.set_random_seed(seed)
            refit_config = dataclasses.replace(config, seed=seed, neighbour_index_size=len(pool))
            refit = new_head(refit_config, raw_pool.inputs, pool.labels)
            # The epochs validation chose, run to the end: the pool is its own "validation" (in-sample loss falls every epoch).
            refitted = fit_model(refit, "fusion", refit_config, pool, pool, fit.best_epoch, config.fusion_learning_rate, log=quiet)
            refit_test = refit.predict(model_arrays(refit, stored["test"].inputs), batch_size=256, verbose=0)
            for title, raw, seconds in (("shipped head (train)", outputs["test"], fit.seconds),
                                        (f"refit on train + validation, {fit.best_epoch} epochs", refit_test, fit.seconds + refitted.seconds)):
                report = score(raw, labels["test"], calibration, config.genres)
                test = [report["tuned"]["micro_f1"], report["tuned"]["macro_f1"], report["map"]]
                print(f"| {title} | seed {seed} | - | {shown(test)} | {seconds:.0f} | - |", flush=True)


if __name__ == "__main__":
    main()
