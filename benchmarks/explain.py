"""Latency of one movie's full explanation (both Grad-CAM heat maps with their PNG overlays, both
word lists, the modality table), after warm-up, over real movies: median and p95 seconds. The bar
is 0.5 s on a 2-core CPU, so the Space can leave the Explain button on. The poster alone (its two
heat maps, nothing else) is timed too, and `predict` on the same movies for comparison
(explanations run only when asked, so it is unchanged).

    .venv/bin/python benchmarks/explain.py [MODEL] [--movies 50] [--warmup 3]
"""

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: this checkout's genre_hf and benchmarks
from benchmarks._data import data_folder  # noqa: E402

BAR = 0.5


def real_movies(count: int) -> list[tuple[Path, str]]:
    """`count` movies spread over the whole data set (every n-th row), with a poster and an overview."""
    data = data_folder()
    with open(data / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    step = max(1, len(rows) // (count * 2))
    movies = []
    for row in rows[::step]:
        poster = data / "Images" / f"{row['Id']}.jpg"
        if poster.is_file() and row["Overview"].strip():
            movies.append((poster, row["Overview"].strip()))
    return movies[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--movies", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    from genre_hf import GenreClassifier

    classifier = GenreClassifier.from_pretrained(args.model)
    movies = real_movies(args.movies + args.warmup)
    warmup, movies = movies[: args.warmup], movies[args.warmup :]
    started = time.perf_counter()
    for poster, overview in warmup:
        classifier.explain(poster, overview)
    warm = time.perf_counter() - started

    explain, heat_maps, predict = [], [], []
    for poster, overview in movies:
        started = time.perf_counter()
        explanation = classifier.explain(poster, overview)
        explain.append(time.perf_counter() - started)
        assert explanation["heat_maps"] and explanation["word_scores"] and explanation["modalities"]
        started = time.perf_counter()
        assert set(classifier.explain(poster)["heat_maps"]) == {"poster", "fusion"}
        heat_maps.append(time.perf_counter() - started)
        started = time.perf_counter()
        classifier.predict(poster, overview)
        predict.append(time.perf_counter() - started)
    words = [len(overview.split()) for _, overview in movies]
    print(f"model: {args.model}")
    print(f"warm-up ({len(warmup)} explanations, traces the functions): {warm:.2f} s")
    print(f"{len(movies)} real movies, overviews of {min(words)}-{max(words)} words (median {statistics.median(words):.0f})")
    print(f"full explanation: median {statistics.median(explain):.3f} s, p95 {percentile(explain, 95):.3f} s, "
          f"max {max(explain):.3f} s (bar: {BAR} s)")
    print(f"poster alone (both Grad-CAM heat maps with their overlays): median {statistics.median(heat_maps):.3f} s, "
          f"p95 {percentile(heat_maps, 95):.3f} s (bar: {BAR} s)")
    print(f"predict, same movies: median {statistics.median(predict) * 1000:.1f} ms, p95 {percentile(predict, 95) * 1000:.1f} ms")
    print(f"load average while measuring: {', '.join(f'{load:.1f}' for load in os.getloadavg())} (2 cores)")


if __name__ == "__main__":
    main()
