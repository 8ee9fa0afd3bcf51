"""Cold start: a fresh process that imports genre_hf, loads a model folder and predicts one movie,
against a fresh process that only imports TensorFlow (the floor of any Keras app: a model folder
answers on LiteRT, without TensorFlow, so genre_hf's process now stays well under it).

    .venv/bin/python benchmarks/cold_start.py [MODEL] [POSTER] [--runs 5] [--details]

Runs the two alternately (so machine load hits both alike) and prints the medians of the whole
processes' wall times, their ratio, and the in-process stages of the genre_hf run. A pretrained
model's first predict is split further: KerasHub's import, the tokenizer's and the backbones' builds
(a backbone's random initial weights, overwritten by the preset's, included; EfficientNet-Lite's
weights file read and its sha256 checked) and the rest (the first trace and run). With `--details`, a third process, `import tensorflow` with Keras' optional
imports of scikit-learn, pandas and matplotlib refused, shows how much of the floor those take, and
each of the two is also run ending in `os._exit` once done, as the `genre-hf` command does
(genre_hf/cli/_exit.py): the difference is Python's teardown of the process. POSTER defaults to the
first poster of $GENRE_HF_DATA (else data/imdb-multimodal).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: this checkout's genre_hf and benchmarks
from benchmarks._data import data_folder  # noqa: E402

BASELINE = "import tensorflow"
# `import tensorflow` imports Keras, which imports these when they are installed (scikit-learn and pandas
# come with the base install): the floor without them.
WITHOUT_OPTIONAL = "import sys; sys.modules.update({'sklearn': None, 'pandas': None, 'matplotlib.pyplot': None}); import tensorflow"
CHILD = """
import json, sys, time
started = time.perf_counter()
from genre_hf import GenreClassifier
imported = time.perf_counter()
clf = GenreClassifier.from_pretrained(sys.argv[1])
loaded = time.perf_counter()
builds = {}
if clf.config.overview.kind == "keras_hub" and clf.config.overview.runtime == "tensorflow":  # time the pieces the first predict builds
    import keras_hub
    builds["import keras_hub"] = time.perf_counter() - loaded
    original = {name: getattr(keras_hub.models, name).from_preset for name in ("Tokenizer", "Backbone")}
    def timed(name):
        def from_preset(*args, **kwargs):
            begun = time.perf_counter()
            try:
                return original[name](*args, **kwargs)
            finally:
                builds[name.lower() + " build"] = time.perf_counter() - begun
        return from_preset
    for name in original:
        setattr(getattr(keras_hub.models, name), "from_preset", timed(name))
if clf.config.poster.kind == "efficientnet_lite":  # the poster backbone: its weights file read and checked, then built
    from genre_hf.modeling import efficientnet_lite
    def timed_step(label, function):
        def run(*args, **kwargs):
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                builds[label] = time.perf_counter() - begun
        return run
    efficientnet_lite.read_weights = timed_step("poster weights read and checked", efficientnet_lite.read_weights)
    efficientnet_lite.build_backbone = timed_step("poster backbone build", efficientnet_lite.build_backbone)
before = time.perf_counter()
clf.predict(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
first = time.perf_counter()
if builds:
    builds["first trace and run"] = first - before - sum(v for k, v in builds.items() if k != "import keras_hub")
heavy = [m for m in ("tensorflow", "keras", "keras_hub", "gradio", "matplotlib", "datasets") if m in sys.modules]
print(json.dumps({"import genre_hf": imported - started, "from_pretrained": loaded - imported,
                  "first predict": first - loaded, "in-process total": first - started, "heavy": heavy, **builds}))
"""


NO_TEARDOWN = "\nimport os, sys; sys.stdout.flush(); os._exit(0)"  # what the genre-hf command's exit skips


def wall(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd="/", env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("poster", nargs="?", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--details", action="store_true", help="also the floor without optional imports, and both without teardown")
    args = parser.parse_args(argv)
    poster = str(Path(args.poster or min((data_folder() / "Images").iterdir())).resolve())  # the child runs in /
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    floors, totals, stages, floors_without_optional, floors_no_teardown, totals_no_teardown = [], [], [], [], [], []
    child = [str(Path(args.model).resolve()), poster]
    for _ in range(args.runs):
        floors.append(wall([sys.executable, "-c", BASELINE], env)[0])
        seconds, out = wall([sys.executable, "-c", CHILD, *child], env)
        totals.append(seconds)
        stages.append(json.loads(out.strip().splitlines()[-1]))
        if args.details:
            floors_without_optional.append(wall([sys.executable, "-c", WITHOUT_OPTIONAL], env)[0])
            floors_no_teardown.append(wall([sys.executable, "-c", BASELINE + NO_TEARDOWN], env)[0])
            totals_no_teardown.append(wall([sys.executable, "-c", CHILD + NO_TEARDOWN, *child], env)[0])
    floor, total = statistics.median(floors), statistics.median(totals)
    for key in ("import genre_hf", "from_pretrained", "first predict", "import keras_hub", "tokenizer build",
                "backbone build", "poster weights read and checked", "poster backbone build", "first trace and run", "in-process total"):
        if key in stages[0]:
            seconds = statistics.median(s[key] for s in stages)
            print(f"{key:>30}: {seconds:6.2f} s   ({seconds / floor:.2f}x the floor)")
    print(f"{'python -c ' + repr(BASELINE):>30}: {floor:6.2f} s   (whole process, median of {args.runs})")
    print(f"{'import + load + predict':>30}: {total:6.2f} s   (whole process, median of {args.runs})")
    print(f"{'ratio':>30}: {total / floor:6.2f}x   (goal: 1.10x from scratch, 1.25x pretrained)")
    print(f"{'heavy modules loaded':>30}: {stages[0]['heavy'] or 'none'}")
    if not args.details:
        return
    without_optional = statistics.median(floors_without_optional)
    floor_no_teardown, total_no_teardown = statistics.median(floors_no_teardown), statistics.median(totals_no_teardown)
    print(f"{'floor without optional imports':>30}: {without_optional:6.2f} s   "
          f"({without_optional / floor:.2f}x: scikit-learn, pandas, matplotlib refused)")
    print(f"{'teardown':>30}: {floor - floor_no_teardown:6.2f} s of the floor, {total - total_no_teardown:.2f} s of "
          f"import + load + predict (each whole process, ended by os._exit once done)")
    print(f"{'ratio without teardown':>30}: {total_no_teardown / floor:6.2f}x the floor ({total_no_teardown / floor_no_teardown:.2f}x "
          f"the floor without its own)")


if __name__ == "__main__":
    main()
