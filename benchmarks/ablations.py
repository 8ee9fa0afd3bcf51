"""What each choice does: the fusion model's scores with one setting changed at a time.

    .venv/bin/python benchmarks/ablations.py --family pretrained [--seed 42] [--data ../shared/data/imdb-multimodal]

Each variant is the family's config with the settings below changed, trained and calibrated in this
process exactly as `genre-hf train` does (validation chose the epochs, temperatures and thresholds),
with one seed. Prints, per variant, the fusion model's validation and test micro F1 and macro F1
(tuned thresholds) and mAP, and its fitting time. Validation is what a choice may be made on; test
shows whether it held. One seed: differences under the seed spread ("Seeds" in the README) are ties.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from genre_hf.config import GenreConfig
from genre_hf.data.loader import load_movies
from genre_hf.data.splits import SplitSpec
from genre_hf.evaluation.experiment import train_and_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb-multimodal"
VARIANTS = {  # family -> variant -> settings changed from the family's
    "pretrained": {
        "shipped": {},
        "no neighbour vote": {"neighbour_k": 0},
        "head on the overview trunk's embedding, no vote (before)": {"fusion_reads_features": False, "neighbour_k": 0},
        "fusion trained through the frozen trunks": {"fusion_on_stored_embeddings": False},
    },
    "scratch": {
        "shipped": {},
        "fusion trained through the frozen trunks": {"fusion_on_stored_embeddings": False},
    },
}


def scores(report: dict) -> str:
    fusion = report["models"]["fusion"]
    return f"{fusion['tuned']['micro_f1']:.3f} / {fusion['tuned']['macro_f1']:.3f} / {fusion['map']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(VARIANTS), default="pretrained")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    base = GenreConfig.for_family(args.family, seed=args.seed)
    movies, _ = load_movies(args.data, split=SplitSpec.from_config(base))
    print(f"Fusion model, {args.family} family, seed {args.seed}: micro F1 / macro F1 (tuned) / mAP")
    print("| variant | validation | test | fusion fit (s) | run (s) |\n|---|---|---|---|---|")
    baselines = None
    for name, settings in VARIANTS[args.family].items():
        started = time.perf_counter()
        scored = train_and_score(GenreConfig.for_family(args.family, seed=args.seed, **settings), movies, log=lambda message: None,
                                 baselines=baselines)
        baselines = scored.baselines  # no seed: fitted once
        seconds = time.perf_counter() - started
        fit = scored.run.fits["fusion"].seconds
        print(f"| {name} | {scores(scored.reports['validation'])} | {scores(scored.reports['test'])} | {fit:.0f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
