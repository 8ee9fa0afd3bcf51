"""The pretrained family's fusion model averaged with a from-scratch model (a late ensemble of the two families).

    GENRE_HF_PRESET_MIRROR=../shared/models .venv/bin/python benchmarks/family_ensemble.py \
        [artifacts/model-pretrained] [artifacts/model] [--weights 0 0.1 0.2 0.3 0.4 0.5]

Both folders must come from the same data (their splits are cut by the same id hash). For each weight
w, the calibrated logits are mixed, (1 - w) x the pretrained fusion model's + w x the from-scratch
overview or fusion model's (whose TF-IDF path reads words the frozen MiniLM's mean may blur), then a
temperature, thresholds and `max_genres` are fitted on validation as training fits them. Prints
validation and test micro F1 / macro F1 (tuned) / mAP for each; w = 0 is the shipped model.
Validation chooses w; the test split is only scored.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imdb-multimodal"
SPLITS = ("validation", "test")


def calibrated_outputs(folder: str, models: tuple[str, ...]) -> tuple[dict, dict, object]:
    """({(model, split): calibrated probabilities}, {split: labels}, config) of one model folder."""
    from genre_hf.data.loader import load_movies
    from genre_hf.data.splits import SplitSpec
    from genre_hf.features.featurizer import movie_features
    from genre_hf.inference.classifier import GenreClassifier

    classifier = GenreClassifier.from_pretrained(folder)
    movies, _ = load_movies(DATA, split=SplitSpec.from_config(classifier.config))
    outputs, labels = {}, {}
    for split in SPLITS:
        features = movie_features(movies[split], classifier.featurizer)
        labels[split] = features.labels
        for model in models:
            outputs[model, split] = classifier.calibrated(model, classifier.raw_probabilities(model, features.inputs))
    return outputs, labels, classifier.config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pretrained", nargs="?", default=str(ROOT / "artifacts" / "model-pretrained"))
    parser.add_argument("scratch", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4, 0.5])
    args = parser.parse_args()

    from genre_hf.evaluation.scoring import score
    from genre_hf.training.calibration import expit, fit_model_calibration, logit

    pretrained, labels, config = calibrated_outputs(args.pretrained, ("fusion",))
    scratch, scratch_labels, scratch_config = calibrated_outputs(args.scratch, ("overview", "fusion"))
    if scratch_config.genres != config.genres or any(not np.array_equal(labels[s], scratch_labels[s]) for s in SPLITS):
        raise SystemExit("the two folders were not trained on the same movies and genres: no ensemble")
    clip = lambda p: np.clip(p, 1e-6, 1 - 1e-6)  # noqa: E731
    print(f"{'pretrained fusion + w x scratch':<36} {'validation':>22} {'test':>22}   (micro F1 / macro F1 / mAP)")
    for other in ("overview", "fusion"):
        for weight in args.weights:
            mixed = {s: expit((1 - weight) * logit(clip(pretrained["fusion", s])) + weight * logit(clip(scratch[other, s])))
                     for s in SPLITS}
            calibration = fit_model_calibration(mixed["validation"], labels["validation"], config.genres,
                                                config.threshold_prior_strength, max_genres_ratio=config.max_genres_ratio)
            figures = []
            for split in SPLITS:
                scores = score(mixed[split], labels[split], calibration, config.genres)
                figures.append(f"{scores['tuned']['micro_f1']:.3f} / {scores['tuned']['macro_f1']:.3f} / {scores['map']:.3f}")
            print(f"{f'w {weight:.1f} x {other}':<36} {figures[0]:>22} {figures[1]:>22}")


if __name__ == "__main__":
    main()
