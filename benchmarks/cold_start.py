"""Cold start: `from_pretrained` plus one `predict` with both inputs, in fresh processes.

    .venv/bin/python benchmarks/cold_start.py [MODEL] [POSTER] [--runs 3]

Prints the median of each stage (import, load, first predict, a second predict) and the whole
process's wall time, which adds interpreter start-up and TensorFlow's shutdown.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
started = time.perf_counter()
from genre_hf import GenreClassifier
imported = time.perf_counter()
clf = GenreClassifier.from_pretrained(sys.argv[1])
loaded = time.perf_counter()
clf.predict(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
first = time.perf_counter()
clf.predict(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
second = time.perf_counter()
print(json.dumps({"import": imported - started, "load": loaded - imported, "first predict": first - loaded,
                  "import to first prediction": first - started, "second predict": second - first}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("poster", nargs="?", default=str(ROOT.parent / "shared/data/imdb-multimodal/Images/tt0086425.jpg"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs, walls = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, args.model, args.poster], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - started)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for key in runs[0]:
        print(f"{key:>28}: {statistics.median(run[key] for run in runs):6.2f} s")
    print(f"{'whole process (wall)':>28}: {statistics.median(walls):6.2f} s   (median of {args.runs} runs)")


if __name__ == "__main__":
    main()
