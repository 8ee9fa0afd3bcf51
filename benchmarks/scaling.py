"""Scaling: training cost and memory at 1x, 2x and 5x the data, features in memory or streamed.

    .venv/bin/python benchmarks/scaling.py [--scales 1 2 5] [--epochs 2] [--image-size 64] [--models poster]
                                           [--cnn-filters 32 64 128 256]

The data sets are the data's movies (--data) repeated under new ids (`<id>x<copy>`, posters linked,
never copied) in the upstream layout, so a 5x set has 28,570 movies and the same distribution.
Each (scale, input) pair trains in a fresh process (`train_all` with the default architectures, or
the poster CNN's filters given by `--cnn-filters`; `--epochs` epochs of each model in `--models`,
by default the poster model, the one that reads the posters; the streamed runs build their feature
cache, in a fresh folder, as part of the run) and reports:

- features (s): preparing the features (vocabulary pass + decoding every poster; for the streamed
  path, writing the cache);
- s/epoch: wall time of the last epoch of each model (validation included), summed over the
  models: the first epoch also traces the graphs;
- samples/s: training movies per second in that epoch, validation excluded (all models together);
- peak RSS: the process's VmHWM at the end, and its growth over the RSS after start-up (imports
  and TensorFlow), which is what the data adds.

Then the ratios 5x / 1x of s/epoch (linear means 5) and of the peak-RSS growth (flat means ~1).
The machine's load average is printed with each run: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: this checkout's genre_hf and benchmarks
from benchmarks._data import data_folder  # noqa: E402


def write_copies(source: Path, target: Path, copies: int) -> Path:
    """An upstream-layout folder with every movie of `source` `copies` times under new ids (posters linked)."""
    (target / "Images").mkdir(parents=True, exist_ok=True)
    with open(source / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, records = next(reader), list(reader)
    with open(target / "IMDB_overview_genres.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for copy in range(copies):
            for record in records:
                new_id = f"{record[0]}x{copy}"
                writer.writerow([new_id, *record[1:]])
                poster = source / "Images" / f"{record[0]}.jpg"
                link = target / "Images" / f"{new_id}.jpg"
                if poster.exists() and not link.exists():
                    link.symlink_to(poster.resolve())
    return target


def status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def child(arguments: dict) -> dict:
    """One training run in this (fresh) process."""
    from genre_hf.config import GenreConfig
    from genre_hf.data.loader import load_movies
    from genre_hf.data.sources import Source
    from genre_hf.training.trainer import TrainOptions, train_all  # imports TensorFlow: start-up memory is measured after it

    baseline = status_kb("VmRSS")
    epochs = arguments["epochs"]
    poster = {"image_size": arguments["image_size"], "epochs": epochs}
    config = GenreConfig.for_family("scratch", poster={**poster, **({"filters": arguments["cnn_filters"]} if arguments["cnn_filters"] else {})},
                                    overview={"epochs": epochs}, fusion={"epochs": epochs}, training={"patience": epochs + 1})
    started = time.perf_counter()
    movies, report = load_movies(arguments["data"], split=config.split)
    load_seconds = time.perf_counter() - started
    options = TrainOptions(input=arguments["input"], cache_dir=arguments["cache_dir"])
    run = train_all(config, movies, log=lambda message: None, only=tuple(arguments["models"]), options=options,
                    source=Source.of(arguments["data"]).fingerprint())
    train = len(run.train)
    epoch_seconds = sum(fit.epoch_seconds[-1] for fit in run.fits.values())
    train_seconds = sum(train / fit_rate for fit_rate in (fit.samples_per_second for fit in run.fits.values()))
    return {
        "movies": sum(report.rows_kept.values()),
        "train": train,
        "input": run.prepared.input,
        "load_seconds": load_seconds,
        "features_seconds": run.prepared.seconds,
        "epoch_seconds": epoch_seconds,
        "samples_per_second": train * len(run.fits) / train_seconds,
        "per_model": {name: {"epoch_seconds": fit.epoch_seconds, "samples_per_second": fit.samples_per_second}
                      for name, fit in run.fits.items()},
        "peak_rss_mb": status_kb("VmHWM") / 1024,
        "baseline_rss_mb": baseline / 1024,
    }


def run_child(arguments: dict) -> dict:
    load_before = os.getloadavg()[0]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, __file__, "--child", json.dumps(arguments)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"run {arguments} failed:\n{result.stderr[-4000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["load"] = (load_before, os.getloadavg()[0])
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument("--inputs", nargs="+", default=["memory", "stream"], choices=("memory", "stream"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["poster"], choices=("poster", "overview", "fusion"))
    parser.add_argument("--cnn-filters", type=int, nargs="+", default=None, help="the poster CNN's filters (default: the config's)")
    parser.add_argument("--data", type=Path, default=None, help="the data to copy (default: $GENRE_HF_DATA, else data/imdb-multimodal)")
    parser.add_argument("--work", type=Path, default=None, help="where the synthetic data sets and caches go (default: a temporary folder)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="genre_hf-scaling-"))
    filters = args.cnn_filters or "default"
    print(f"{os.cpu_count()} CPUs; {args.epochs} epochs of {', '.join(args.models)}; posters {args.image_size} px; "
          f"CNN filters {filters}; work in {work}")
    results = {}
    for scale in args.scales:
        folder = write_copies(args.data or data_folder(), work / f"x{scale}", scale)
        for input in args.inputs:
            arguments = {"data": str(folder), "input": input, "epochs": args.epochs, "image_size": args.image_size,
                         "models": args.models, "cnn_filters": args.cnn_filters,
                         "cache_dir": str(work / f"cache-x{scale}-{input}-{time.time_ns()}")}
            results[scale, input] = measured = run_child(arguments)
            print(f"  {scale}x {input}: {measured['movies']:,} movies, {measured['epoch_seconds']:.1f} s/epoch, "
                  f"peak RSS {measured['peak_rss_mb']:,.0f} MB (load {measured['load'][0]:.1f} -> {measured['load'][1]:.1f})", flush=True)

    print("\n| scale | movies (train) | input | features (s) | s/epoch | samples/s | peak RSS (MB) | growth over start-up (MB) | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (scale, input), m in results.items():
        growth = m["peak_rss_mb"] - m["baseline_rss_mb"]
        print(f"| {scale}x | {m['movies']:,} ({m['train']:,}) | {input} | {m['features_seconds']:.1f} | {m['epoch_seconds']:.1f} | "
              f"{m['samples_per_second']:,.0f} | {m['peak_rss_mb']:,.0f} | {growth:,.0f} | {m['load'][0]:.1f}-{m['load'][1]:.1f} |")
    low, high = min(args.scales), max(args.scales)
    if low != high:
        print(f"\nRatios {high}x / {low}x (data: {high / low:g}x):")
        for input in args.inputs:
            a, b = results[low, input], results[high, input]
            growth = (b["peak_rss_mb"] - b["baseline_rss_mb"]) / max(1.0, a["peak_rss_mb"] - a["baseline_rss_mb"])
            print(f"  {input}: s/epoch x{b['epoch_seconds'] / a['epoch_seconds']:.2f}, features x{b['features_seconds'] / a['features_seconds']:.2f}, "
                  f"peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} (growth over start-up x{growth:.2f})")


if __name__ == "__main__":
    main()
