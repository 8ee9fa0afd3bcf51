"""Compare trained model folders side by side from their saved benchmarks (no recomputation).

    .venv/bin/python benchmarks/compare_folders.py artifacts/model artifacts/loss-focal artifacts/loss-weighted_bce

Used to choose the training loss by measurement: each folder was trained with one setting.
"""

import json
import sys
from pathlib import Path

from genre_hf.config import GenreConfig
from genre_hf.hub.folder import BENCHMARK_JSON, TRAINING_JSON


def compare(folders: list[str]) -> str:
    lines = [
        "| folder | loss | model | BCE | micro F1 @0.5 | micro F1 (tuned) | macro F1 (tuned) | mAP | ECE (calibrated) | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for folder in map(Path, folders):
        config = GenreConfig.load(folder / "config.json")
        report = json.loads((folder / BENCHMARK_JSON).read_text())
        seconds = json.loads((folder / TRAINING_JSON).read_text())["seconds"]
        for name, r in report["models"].items():
            lines.append(
                f"| {folder} | {config.loss} | {name} | {r['bce']:.4f} | {r['micro_f1']:.3f} | {r['tuned']['micro_f1']:.3f} | "
                f"{r['tuned']['macro_f1']:.3f} | {r['map']:.3f} | {r['ece_calibrated']:.4f} | {seconds:.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(compare(sys.argv[1:]))
