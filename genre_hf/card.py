"""The model card, rendered from the package's `model_card.md` template with facts from training.

No number in a card is typed by hand: they come from `benchmark.json` and `training_report.json`
in the model folder, and the `model-index` metadata carries the same figures for the Hub. The card
headlines the test split (never tuned on) when the training data had one.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from genre_hf.config import PROJECT_URL, GenreConfig
from genre_hf.encoders import make_encoder, model_titles
from genre_hf.evaluation import to_markdown

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
BENCHMARK_JSON = "benchmark.json"
BENCHMARK_MD = "benchmark.md"
TRAINING_JSON = "training_report.json"
PLOTS = ("training_curves.png", "pr_curves.png", "per_genre_f1.png", "reliability.png")
REPORT_FILES = (BENCHMARK_JSON, BENCHMARK_MD, TRAINING_JSON, *PLOTS)
TAGS = ["keras", "multi-label-classification", "movie-genres", "multimodal", "image-classification", "text-classification"]
CARD_METRICS = (  # (metric type, name shown, where in a model's scores)
    ("map", "mAP", ("map",)),
    ("f1", "micro F1 (tuned thresholds)", ("tuned", "micro_f1")),
    ("f1", "micro F1 @0.5", ("micro_f1",)),
    ("f1", "macro F1 (tuned thresholds)", ("tuned", "macro_f1")),
    ("precision", "micro precision @0.5", ("micro_precision",)),
    ("recall", "micro recall @0.5", ("micro_recall",)),
    ("bce", "binary cross-entropy", ("bce",)),
    ("ece", "expected calibration error (calibrated)", ("ece_calibrated",)),
)


def render_card(folder: Path, config: GenreConfig, repo_id: str | None = None) -> ModelCard:
    folder = Path(folder)
    reports = _read_json(folder / BENCHMARK_JSON) or {}
    benchmark = reports.get("test") or reports.get("validation")
    training = _read_json(folder / TRAINING_JSON)
    titles = model_titles(config)
    dataset_name = (training or {}).get("data_name", "imdb-multimodal")
    card_data = ModelCardData(
        library_name="genre_hf",
        license="other",
        license_name="research-only",
        tags=TAGS,
        pipeline_tag="text-classification",
        datasets=[dataset_name],
        metrics=["f1", "precision", "recall", "average_precision"],
        model_name=repo_id or "genre_hf-imdb",
        eval_results=_eval_results(benchmark, dataset_name, titles) or None,
    )
    vocabulary = folder / "vocabulary.txt"
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        model_name=repo_id or "genre_hf",
        repo_id=repo_id or "user/imdb-genres",
        repo_url=PROJECT_URL,
        config=config,
        titles=titles,
        text_encoder=make_encoder("overview", config).card_facts(),
        genres=config.genres,
        vocabulary_size=len(vocabulary.read_text(encoding="utf-8").splitlines()) if vocabulary.exists() else "?",
        benchmark=benchmark,
        benchmark_table=to_markdown(benchmark) if benchmark else "",
        training=training,
        non_defaults=", ".join(f"{k}={v}" for k, v in config.non_defaults().items()),
        versions=", ".join(f"{k} {v}" for k, v in (training or {}).get("versions", {}).items()),
    )


def _eval_results(benchmark: dict | None, dataset_name: str, titles: dict[str, str]) -> list[EvalResult]:
    if not benchmark:
        return []
    results = []
    for name, scores in benchmark["models"].items():
        for metric_type, metric_name, path in CARD_METRICS:
            value = scores
            for key in path:
                value = value[key]
            results.append(
                EvalResult(
                    task_type="text-classification",
                    task_name=f"{titles[name]}: multi-label genre classification",
                    dataset_type=dataset_name,
                    dataset_name=f"{dataset_name} ({benchmark['split']} split)",
                    dataset_split=benchmark["split"],
                    metric_type=metric_type,
                    metric_name=f"{titles[name]} {metric_name}",
                    metric_value=round(float(value), 4),
                )
            )
    return results


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
