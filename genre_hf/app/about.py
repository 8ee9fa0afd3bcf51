"""The page's About tab: each family's benchmark on its test split, its plots, and the API call."""

from __future__ import annotations

import json
import os

from genre_hf.app.labels import model_link
from genre_hf.evaluation.scoring import headline_split, report_markdown
from genre_hf.hub.folder import BENCHMARK_JSON


def about(classifiers: dict, model_ids: dict[str, str]) -> str:
    """The About tab: the families side by side on the test split, then each one's full benchmark,
    and the API call."""
    reports = {}
    for label, classifier in classifiers.items():
        path = classifier.files_dir / BENCHMARK_JSON if classifier.files_dir else None
        splits = json.loads(path.read_text()) if path and path.is_file() else {}
        reports[label] = splits.get(headline_split(splits))
    sections = [side_by_side(reports)] if len(reports) > 1 else []
    for label, classifier in classifiers.items():
        report = reports[label]
        table = report_markdown(report) if report else "_No benchmark with this model._"
        sections.append(
            f"## {label}\nLoaded from {model_link(model_ids[label])}. It predicts {len(classifier.genres)} genres: "
            f"{', '.join(classifier.genres)}. Probabilities are calibrated (temperature scaling); a genre is "
            "*predicted* when it passes that model's own threshold for it, tuned on the validation split.\n\n" + table
        )
    where = os.environ.get("SPACE_ID") or "http://127.0.0.1:7860/"
    family = f', family="{list(classifiers)[-1]}"' if len(classifiers) > 1 else ""
    sections.append(f"""## From Python
```python
from gradio_client import Client, handle_file
client = Client("{where}")
result = client.predict(poster=handle_file("poster.jpg"), overview="A retired hitman seeks revenge."{family}, api_name="/predict")
result["fusion"]["genres"]  # also result["poster"], result["overview"]; result["errors"], result["notes"]
```""")
    return "\n\n".join(sections)


def side_by_side(reports: dict[str, dict | None]) -> str:
    """Each family's three models on the split they were scored on: micro F1, macro F1, mAP."""
    lines = ["## The families side by side", "", "| family | model | split | micro F1 (tuned) | macro F1 (tuned) | mAP |", "|---|---|---|---|---|---|"]
    for label, report in reports.items():
        for name, scores in (report or {}).get("models", {}).items():
            lines.append(
                f"| {label} | {report['titles'][name]} | {report['split']} | {scores['tuned']['micro_f1']:.3f} | "
                f"{scores['tuned']['macro_f1']:.3f} | {scores['map']:.3f} |"
            )
    return "\n".join(lines)
