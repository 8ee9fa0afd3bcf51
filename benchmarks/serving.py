"""Per-request latency of `predict` with both inputs, as a library user gets it with no warm-up call:
the first call (which traces the models), and the median of the later ones, against the same calls
run eagerly (what every call cost before the models were traced).

    .venv/bin/python benchmarks/serving.py [MODEL] [--requests 50]
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

OVERVIEW = "A retired hitman seeks revenge on the gang."


def timed_calls(clf, posters, requests: int) -> list[float]:
    times = []
    for i in range(requests):
        started = time.perf_counter()
        clf.predict(poster=posters[i % len(posters)], overview=OVERVIEW)
        times.append(1000 * (time.perf_counter() - started))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    from genre_hf import GenreClassifier

    posters = sorted((data_folder() / "Images").iterdir())[:10]
    automatic = timed_calls(GenreClassifier.from_pretrained(args.model), posters, args.requests)
    eager_classifier = GenreClassifier.from_pretrained(args.model)
    whole = eager_classifier.whole
    eager_classifier.network._forward = lambda batch: whole(batch, training=False)  # every call eager, for comparison
    eager = timed_calls(eager_classifier, posters, args.requests)
    later, kept_eager = statistics.median(automatic[1:]), statistics.median(eager[1:])
    print(f"first call (traces models):  {automatic[0]:7.1f} ms   (eager: {eager[0]:.1f} ms)")
    print(f"later calls, median:         {later:7.1f} ms   (eager: {kept_eager:.1f} ms)")
    print(f"speed-up of later calls:     {kept_eager / later:7.1f}x, with no warm-up call by the user")


if __name__ == "__main__":
    main()
