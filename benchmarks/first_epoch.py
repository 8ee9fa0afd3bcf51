"""The first epoch's overhead: how long each model's first epoch takes against its second, and how
many times its training step was traced, with the optimizer built before the first step (what
`fit_model` does) and, with `--deferred`, built where Keras builds it when no strategy is set:
inside the first traced step, which then traces twice.

    .venv/bin/python benchmarks/first_epoch.py [--movies 600] [--deferred]

Trains the tests' tiny config (tests/conftest.py) on the first `--movies` movies of the shared data.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movies", type=int, default=600)
    parser.add_argument("--deferred", action="store_true", help="leave the optimizer's build to Keras (inside the first step)")
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.training.trainer import train_all
    from tests.conftest import DATA, tiny_config, write_subset

    traces = {}  # optimizer -> traces of its training step, in the order the models trained
    original_apply, original_build = keras.optimizers.Optimizer.apply, keras.optimizers.Adam.build  # fit_model's optimizer

    def apply(self, *arguments, **keywords):  # runs once per trace of a training step
        traces[id(self)] = traces.get(id(self), 0) + 1
        return original_apply(self, *arguments, **keywords)

    def deferred_build(self, variables):
        if tf.inside_function():  # Keras' own call, inside the first traced step
            original_build(self, variables)

    keras.optimizers.Optimizer.apply = apply
    if args.deferred:
        keras.optimizers.Adam.build = deferred_build
    folder = Path(tempfile.mkdtemp(prefix="first_epoch_"))
    try:
        config = tiny_config()
        movies, _ = load_movies(write_subset(DATA, folder / "imdb", rows=args.movies), split=SplitSpec.from_config(config))
        started = time.perf_counter()
        run = train_all(config, movies, log=lambda message: None)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"optimizer built {'inside the first step (Keras default)' if args.deferred else 'before the first step'}; "
          f"{len(movies['train'])} training movies")
    for (name, fit), count in zip(run.fits.items(), traces.values()):
        first, second = fit.epoch_seconds[:2]
        print(f"{name:>10}: first epoch {first:5.2f} s, second {second:5.2f} s, training step traced {count}x")
    print(f"{'train_all':>10}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
