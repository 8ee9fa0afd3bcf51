"""Why the from-scratch overview LSTM and fusion head keep an early epoch: other schedules measured.

    .venv/bin/python benchmarks/scratch_candidates.py [--seeds 42 43 44] [--only NAME ...]

Trains the from-scratch family as `genre-hf train` does (`train_all`), once per candidate and seed,
with one thing changed for the overview LSTM and/or the fusion head: a cosine learning rate (a
warm-up epoch, then down to zero, every epoch run and the best kept, as the poster CNN has), a lower
learning rate for the LSTM, or a stronger L2 on its bag-of-words path. Prints, per run, the best
epoch of each model out of the epochs run, validation mAP of the overview and fusion models, test
mAP / micro F1 (tuned) of the fusion model and the run's seconds, then the means over the seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from genre_hf.config import GenreConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb-multimodal"


@dataclasses.dataclass
class Candidate(GenreConfig):
    """The family's config with a cosine rate for the models in `cosine` and the LSTM's own rate."""

    cosine: tuple = ()
    overview_rate: float = 0.0  # 0: the shared learning_rate

    def schedule(self, model: str) -> str:
        return "cosine" if model in self.cosine else super().schedule(model)

    def learning_rate_of(self, model: str) -> float:
        return self.overview_rate if model == "overview" and self.overview_rate else super().learning_rate_of(model)


CANDIDATES = {
    "shipped: constant rate 2e-3, patience 4 (LSTM up to 20 epochs, fusion up to 15)": {},
    "LSTM: cosine, 8 epochs": {"cosine": ("overview",), "epochs_overview": 8},
    "LSTM and fusion: cosine, 8 epochs each": {"cosine": ("overview", "fusion"), "epochs_overview": 8, "epochs_fusion": 8},
    "LSTM: rate 5e-4": {"overview_rate": 5e-4},
    "LSTM: bag-of-words L2 1e-4 (instead of 1e-5)": {"bag_of_words_l2": 1e-4},
}


def main() -> None:
    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.evaluation.scoring import score
    from genre_hf.training.calibration import fit_calibration
    from genre_hf.training.trainer import train_all

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seeds", nargs="*", type=int, default=[42, 43, 44])
    parser.add_argument("--only", nargs="*", help="candidate names (or a unique start of one)")
    args = parser.parse_args()
    movies, _ = load_movies(args.data, split=SplitSpec.from_config(GenreConfig()))
    print("| candidate | seed | best epoch / run: LSTM, fusion | val mAP: LSTM, fusion | test fusion: mAP / micro F1 | s |\n"
          "|---|---|---|---|---|---|", flush=True)
    for name, settings in CANDIDATES.items():
        if args.only and not any(name.startswith(start) for start in args.only):
            continue
        figures = []
        for seed in args.seeds:
            started = time.perf_counter()
            run = train_all(Candidate.for_family("scratch", seed=seed, **settings), movies, log=lambda message: None)
            seconds = time.perf_counter() - started
            splits, config = run.prepared.splits, run.prepared.config
            raw = {split: run.network.raw_outputs(splits[split].inputs) for split in ("validation", "test")}
            calibration = fit_calibration(config, splits["train"].labels, splits["validation"].labels, raw["validation"])

            def scored(model, split):
                return score(raw[split][model], splits[split].labels, calibration[model], config.genres)

            test = scored("fusion", "test")
            row = [scored("overview", "validation")["map"], scored("fusion", "validation")["map"], test["map"], test["tuned"]["micro_f1"]]
            figures.append(row)
            epochs = ", ".join(f"{run.fits[m].best_epoch}/{len(run.fits[m].history['loss'])}" for m in ("overview", "fusion"))
            print(f"| {name} | {seed} | {epochs} | {row[0]:.3f}, {row[1]:.3f} | {row[2]:.3f} / {row[3]:.3f} | {seconds:.0f} |", flush=True)
        mean, std = np.mean(figures, axis=0), np.std(figures, axis=0)
        print(f"| {name} | mean ± std | | {mean[0]:.3f} ± {std[0]:.3f}, {mean[1]:.3f} ± {std[1]:.3f} | "
              f"{mean[2]:.3f} ± {std[2]:.3f} / {mean[3]:.3f} ± {std[3]:.3f} | |", flush=True)


if __name__ == "__main__":
    main()
