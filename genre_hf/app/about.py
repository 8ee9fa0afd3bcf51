"""The page's About tab: the headline benchmark as one compact table, each family's full benchmark a
click away, its plots, and the API call."""

from __future__ import annotations

import json
import os

from genre_hf.app.labels import model_link
from genre_hf.evaluation.scoring import headline_split, report_markdown
from genre_hf.hub.folder import FolderError, read_benchmark


def benchmark_report(classifier) -> dict | None:
    """The model's benchmark on the split it is judged on (test when it has one), or None; read and
    checked as loading the model checks it (`folder.read_benchmark`)."""
    try:
        splits = (read_benchmark(classifier.files_dir) if classifier.files_dir else None) or {}
    except FolderError:  # changed since the model loaded: shown as no benchmark
        return None
    return splits.get(headline_split(splits))


def headline(reports: dict[str, dict | None]) -> str:
    """Every family's three models in one table a phone can show: tuned micro F1, macro F1, mAP, and
    how many genres a movie gets against how many it has."""
    lines = ["| Model | micro F1 | macro F1 | mAP | genres a movie |", "|---|---|---|---|---|"]
    scored = {label: report for label, report in reports.items() if report}
    for label, report in scored.items():
        for name, scores in report["models"].items():
            title = report["titles"][name] if len(scored) == 1 else f"{label.split(':')[0]}: {report['titles'][name]}"
            per_movie = scores["tuned"].get("genres_per_movie")
            cardinality = f"{per_movie:.1f} of {scores['label_cardinality']:.1f}" if per_movie is not None else "n/a"
            lines.append(f"| {title} | {scores['tuned']['micro_f1']:.3f} | {scores['tuned']['macro_f1']:.3f} | {_shown(scores['map'])} | {cardinality} |")
    if not scored:
        return "_No benchmark with these models._"
    splits = {f"{report['movies']:,} {report['split']}-split movies" for report in scored.values()}
    return (f"Scored on {' and '.join(sorted(splits))}, never trained or tuned on. F1 with each model's tuned "
            "thresholds; mAP ranks genres without thresholds; *genres a movie*: how many it lists, of how many "
            "a movie has.\n\n" + "\n".join(lines))


def family_details(classifier, model_id: str, report: dict | None) -> str:
    """One family's full benchmark (every figure, baselines, per genre), for its accordion."""
    table = report_markdown(report) if report else "_No benchmark with this model._"
    return (f"Loaded from {model_link(model_id)}. It predicts {len(classifier.genres)} genres: {', '.join(classifier.genres)}. "
            "Probabilities are calibrated (temperature scaling); a model lists a genre when it passes that model's "
            "threshold for it, at most a few a movie (the likeliest of those that pass), both tuned on the validation split.\n\n" + table)


PAGE_URL = "PAGE_URL"  # in the snippet, replaced in the browser by the address the visitor opened (`served_at`)


def api_example(labels: list[str]) -> str:
    """How to call the Space from Python: by its Space id on a Space, else at the page's own address
    (the server cannot know the address a visitor reaches it by: a proxy, a port chosen at start)."""
    where = os.environ.get("SPACE_ID") or PAGE_URL
    family = f', family="{labels[-1]}"' if len(labels) > 1 else ""
    return f"""### From Python
```python
from gradio_client import Client, handle_file
client = Client("{where}")
result = client.predict(poster=handle_file("poster.jpg"), overview="A retired hitman seeks revenge."{family}, api_name="/predict")
result["fusion"]["genres"]  # also result["poster"], result["overview"]; result["errors"], result["notes"]
```"""


def served_at(snippet: str) -> str:
    """A browser function that returns `snippet` with the page's own address in place of PAGE_URL."""
    return f"() => {json.dumps(snippet)}.replaceAll({json.dumps(PAGE_URL)}, window.location.origin + window.location.pathname)"


def _shown(value) -> str:
    """A figure as the headline shows it: n/a where the split gave none (an mAP with no positive movie)."""
    return "n/a" if value is None else f"{value:.3f}"
