"""Which model a command uses when none is named: the one rule every command and the app share."""

from __future__ import annotations

import os
from pathlib import Path

from genre_hf import reading

DEFAULT_MODEL_REPO = "genre-hf/imdb-genres"
LOCAL_MODELS = ("artifacts/model", "artifacts/model-pretrained")
SPACE_CONFIG = "space_config.json"
RULE = (
    "The model: --model, else $GENRE_HF_MODEL, else space_config.json in the working directory (a published "
    "Space), else ./artifacts/model (and, for the app, ./artifacts/model-pretrained), else the Hub repo "
    f"{DEFAULT_MODEL_REPO}."
)


def model_sources(environ=os.environ, root: Path | None = None) -> list[str]:
    """The models to use, one per family: $GENRE_HF_MODEL (comma-separated), else the repos in a
    Space's `space_config.json`, else the local `artifacts/model` and `artifacts/model-pretrained`,
    else the published repo (all relative to the working directory)."""
    root = Path.cwd() if root is None else root
    if environ.get("GENRE_HF_MODEL"):
        return [source.strip() for source in environ["GENRE_HF_MODEL"].split(",") if source.strip()]
    if (root / SPACE_CONFIG).is_file():
        config = reading.read_json(root / SPACE_CONFIG, 64 * reading.KB)
        models = config.get("models") or [config.get("model")]
        if not all(isinstance(model, str) and model for model in models):
            raise ValueError(f"{SPACE_CONFIG} must name the models: {{\"models\": [\"user/name\", ...]}}")
        return models
    local = [str(root / folder) for folder in LOCAL_MODELS if (root / folder).is_dir()]
    return local or [DEFAULT_MODEL_REPO]
