"""Poster CNN training throughput (samples/s) for variants of its architecture, each in a fresh
process, so the next step on `make train` time is chosen by measurement.

    .venv/bin/python benchmarks/cnn_throughput.py [--batches 20] [--epochs 3]

Each variant fits the poster model (as `build_models` makes it) on random 64 x 64 posters: one
warm-up epoch (tracing), then `--epochs` timed epochs. Prints samples/s and the ratio to the CNN we
had before (the coursework's widths, stride 1). Quality is not measured here: see README, "Scaling".
"""

import argparse
import json
import os
import subprocess
import sys
import time

BEFORE = {"cnn_filters": [32, 64, 128, 256], "cnn_stem_stride": 1}  # the coursework's CNN, our default until 2026-11-25
VARIANTS = {  # name -> config settings
    "before: 32-64-128-256, stride 1": BEFORE,
    "before, no augmentation": {**BEFORE, "augment_posters": False},
    "half widths (16-32-64-128)": {**BEFORE, "cnn_filters": [16, 32, 64, 128]},
    "stride-2 first convolution": {**BEFORE, "cnn_stem_stride": 2},
    "default: half widths, stride 2": {},
}


def child(settings: dict, batches: int, epochs: int) -> float:
    import keras
    import numpy as np
    import tensorflow as tf

    from genre_hf.config import GenreConfig
    from genre_hf.modeling.encoders import make_encoders
    from genre_hf.modeling.models import build_models
    from genre_hf.modeling.tokenizer import Tokenizer

    config = GenreConfig(genres=[f"genre{i}" for i in range(20)], sequence_length=45, **settings)
    tokenizer = Tokenizer(config, [f"word{i}" for i in range(998)])
    model = build_models(config, make_encoders(config, tokenizer), len(tokenizer.vocabulary)).models["poster"]
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    rows = 64 * batches
    posters = np.random.default_rng(0).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)
    labels = (np.random.default_rng(1).random((rows, 20)) < 0.1).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(({"poster": posters}, labels)).batch(64)
    model.fit(data, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0)
    return rows * epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), args.batches, args.epochs)))
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rates = {}
    for name, settings in VARIANTS.items():
        done = subprocess.run([sys.executable, __file__, "--batches", str(args.batches), "--epochs", str(args.epochs),
                               "--child", json.dumps(settings)], env=env, capture_output=True, text=True, check=True)
        rates[name] = float(done.stdout.strip().splitlines()[-1])
        first = next(iter(rates.values()))
        print(f"{name:>34}: {rates[name]:6.0f} samples/s  ({rates[name] / first:.1f}x before)", flush=True)


if __name__ == "__main__":
    main()
