"""Per-request latency of `predict` with both inputs: eager calls vs `compile_for_serving`.

    .venv/bin/python benchmarks/serving.py [MODEL] [--requests 50]

The app compiles at start-up; this prints both medians and their ratio.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
IMAGES = ROOT.parent / "shared" / "data" / "imdb-multimodal" / "Images"


def median_ms(clf, posters, requests: int) -> float:
    times = []
    for i in range(requests):
        started = time.perf_counter()
        clf.predict(poster=posters[i % len(posters)], overview="A retired hitman seeks revenge on the gang.")
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    from genre_hf import GenreClassifier

    clf = GenreClassifier.from_pretrained(args.model)
    posters = sorted(IMAGES.iterdir())[:10]
    eager = median_ms(clf, posters, args.requests)
    started = time.perf_counter()
    clf.compile_for_serving()
    tracing = time.perf_counter() - started
    compiled = median_ms(clf, posters, args.requests)
    print(f"eager predict:    {eager:7.1f} ms median over {args.requests} requests")
    print(f"compiled predict: {compiled:7.1f} ms median (tracing took {tracing:.1f} s once)")
    print(f"speed-up:         {eager / compiled:7.1f}x")


if __name__ == "__main__":
    main()
