"""The model card, rendered from the package's `model_card.md` template with facts from training,
and its `model-index` metadata, which `push_results` also updates on a Hub repo.

No number in a card is typed by hand: they come from `benchmark.json`, `training_report.json` and
`results.json` in the model folder, and published figures from `published.py`. The card headlines
the test split (never tuned on) when the training data had one. `datasets:` names a Hub dataset
only when the data came from the Hub, and the usage snippet names where the model really is.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from genre_hf import hub_calls
from genre_hf.config import PROJECT_URL, GenreConfig
from genre_hf.evaluation.published import PUBLISHED, comparable_bce
from genre_hf.evaluation.results import flatten
from genre_hf.evaluation.scoring import headline_split, report_markdown
from genre_hf.hub.folder import VOCABULARY_FILE, read_benchmark, read_training_record, read_vocabulary
from genre_hf.modeling import MODEL_INPUTS
from genre_hf.modeling.encoders import model_titles
from genre_hf.modeling.fusion import card_description
from genre_hf.modeling.tokenizer import Tokenizer

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
TAGS = ["keras", "multi-label-classification", "movie-genres", "multimodal", "image-classification", "text-classification"]
CARD_METRICS = (  # (metric type, name shown, flat metric name: see results.METRICS)
    ("map", "mAP", "map"),
    ("f1", "micro F1 (tuned thresholds)", "tuned_micro_f1"),
    ("f1", "micro F1 @0.5", "micro_f1"),
    ("f1", "macro F1 (tuned thresholds)", "tuned_macro_f1"),
    ("precision", "micro precision @0.5", "micro_precision"),
    ("recall", "micro recall @0.5", "micro_recall"),
    ("bce", "binary cross-entropy", "bce"),
    ("ece", "expected calibration error (calibrated)", "ece_calibrated"),
    ("ece", "class-wise calibration error (calibrated)", "classwise_ece_calibrated"),
)


def task_type(model: str) -> str:
    """The Hub task a model's results are filed under: a model that reads only the poster is image
    classification; one that reads the overview (alone or with the poster) is text classification."""
    return "image-classification" if MODEL_INPUTS.get(model) == ("poster",) else "text-classification"


def render_card(folder: Path, config: GenreConfig, repo_id: str | None = None, location: str | None = None) -> ModelCard:
    """The card of the model folder `folder`. `repo_id` (the Hub repo it is pushed to) or else
    `location` (the folder it is saved in) is what the usage snippet loads."""
    folder = Path(folder)
    reports = read_benchmark(folder) or {}
    benchmark = reports.get(headline_split(reports))
    training = read_training_record(folder) or {}
    data = _data_facts(training)
    tokens = read_vocabulary(folder, config) if (folder / VOCABULARY_FILE).exists() else []
    encoders = config.encoders(Tokenizer(config.tokens, tokens))
    titles = model_titles(encoders)
    parts = [encoder.card_facts() for encoder in encoders.values()]
    parts.append({"title": titles["fusion"], "description": card_description(config.fusion, encoders)})
    scores = {name: flatten(score) for name, score in (benchmark or {}).get("models", {}).items()}
    card_data = ModelCardData(
        library_name="genre_hf",
        license="other",
        license_name="research-only",
        tags=TAGS,
        pipeline_tag="text-classification",
        datasets=[data["source"]] if data["kind"] == "hub" else None,
        metrics=["f1", "precision", "recall", "average_precision"],
        model_name=repo_id or "genre_hf-imdb",
        eval_results=eval_results(scores, titles, benchmark["split"], data) if benchmark else None,
    )
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        model_name=repo_id or "genre_hf",
        load_from=repo_id or location or str(folder),
        repo_url=PROJECT_URL,
        config=config,
        titles=titles,
        parts=parts,
        genres=config.genres,
        benchmark=benchmark,
        benchmark_table=report_markdown(benchmark) if benchmark else "",
        published=_published_rows(data["kind"], benchmark, training, titles, len(config.genres)),
        training=training or None,
        data=data,
        rarest=_rarest_genres(training),
        non_defaults=", ".join(f"{k}={v}" for k, v in config.non_defaults().items()),
        versions=", ".join(f"{k} {v}" for k, v in training.get("versions", {}).items()),
    )


def eval_results(scores: dict[str, dict], titles: dict[str, str], split: str, data: dict, note: str = "") -> list[EvalResult]:
    """model-index entries for the three models: {model: {flat metric: value}} on one split of one
    data set. `note` (e.g. "mean of 3 seeds") is added to each metric's name."""
    results = []
    for name, flat in scores.items():
        for metric_type, metric_name, key in CARD_METRICS:
            if flat.get(key) is None:  # not recorded, or no figure (an mAP with no positive movie)
                continue
            results.append(
                EvalResult(
                    task_type=task_type(name),
                    task_name=f"{titles.get(name, name)}: multi-label genre classification",
                    dataset_type=data["source"] if data["kind"] == "hub" else data["name"],
                    dataset_name=f"{data['name']} ({split} split)",
                    dataset_split=split,
                    dataset_revision=data.get("revision"),
                    metric_type=metric_type,
                    metric_name=f"{titles.get(name, name)} {metric_name}" + (f" ({note})" if note else ""),
                    metric_value=round(float(flat[key]), 4),
                )
            )
    return results


def push_results(results: dict, repo_id: str, token: str | None = None) -> str:
    """Add a results file's model figures (means) to the `model-index` of the Hub repo's card, the
    way the Hub merges them (`huggingface_hub.metadata_update`: a metric already there with the same
    task, data set, split and name gets the new value; others are appended). Returns the commit URL."""
    from huggingface_hub import metadata_update
    from huggingface_hub.repocard_data import eval_results_to_model_index

    runs = len(results["seeds"])
    note = f"mean of {runs} seeds" if results["kind"] == "benchmark" and runs > 1 else ""
    models = [name for name in results["metrics"] if name in MODEL_INPUTS]
    scores = {name: {metric: value["mean"] for metric, value in results["metrics"][name].items() if value["mean"] is not None}
              for name in models}
    entries = eval_results(scores, results["titles"], results["split"], results["data"], note)
    if not entries:
        raise ValueError("the results hold no figures of the poster, overview or fusion model to push")
    model_index = eval_results_to_model_index(repo_id, entries)
    with hub_calls.call(f"update of {repo_id}'s card"):
        return str(metadata_update(repo_id, {"model-index": model_index}, overwrite=True, token=token,
                                   commit_message=f"genre_hf: {results['kind']} results on the {results['split']} split"))


def _data_facts(training: dict) -> dict:
    """Name, kind, source and revision of the training data (older reports: what they recorded)."""
    source = training.get("data", "")
    return {
        "name": training.get("data_name") or (Path(source).name if source else "unknown data"),
        "kind": training.get("data_kind", "upstream" if source else "unknown"),
        "source": source,
        "revision": training.get("data_revision"),
        "split_rule": (training.get("load_report") or {}).get("split_rule") or "cut by a hash of the movie id",
    }


def _published_rows(kind: str, benchmark: dict | None, training: dict, titles: dict, genres: int) -> dict | None:
    """The published figures for this data (coursework or MM-IMDb paper) beside ours, or None."""
    reference = PUBLISHED.get(kind)
    if not reference or not benchmark:
        return None
    rows = []
    if kind == "upstream":
        for name, theirs in reference["models"].items():
            rows.append([theirs["title"], f"{theirs['val_bce']:.4f}", f"{theirs['micro_precision']:.3f}", f"{theirs['micro_recall']:.3f}"])
        for name, row in (training.get("models") or {}).items():
            rows.append([titles.get(name, name), f"{comparable_bce(row['best_val_bce'], genres):.4f}",
                         f"{row['val_precision']:.3f}", f"{row['val_recall']:.3f}"])
        header = ["model", f"val BCE (ours x {genres}/{reference['columns']})", "val precision @0.5", "val recall @0.5"]
    else:
        keys = ("macro_f1", "micro_f1", "weighted_f1", "samples_f1")
        for title, theirs in reference["models"].items():
            rows.append([title, *(f"{theirs[key]:.3f}" for key in keys)])
        for name, score in benchmark["models"].items():
            flat = flatten(score)
            rows.append([f"{titles.get(name, name)} (ours, {benchmark['split']} split)", *(f"{flat['tuned_' + key]:.3f}" for key in keys)])
        header = ["model", "macro F1", "micro F1", "weighted F1", "samples F1"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    return {"citation": reference["citation"], "table": "\n".join(table), "columns": reference.get("columns")}


def _rarest_genres(training: dict, count: int = 4) -> str:
    counts = training.get("train_genre_counts") or {}
    rarest = sorted(counts.items(), key=lambda item: item[1])[:count]
    return ", ".join(f"{genre} ({n})" for genre, n in rarest)

