"""`GenreClassifier`: the predictor with the Hub's `save_pretrained` / `from_pretrained` / `push_to_hub`.

Built on `huggingface_hub.ModelHubMixin`. From a repo id it downloads only the files it needs into
the usual Hub cache (a restarted Space finds them there), then rebuilds the architectures from the
config and loads weights only: nothing in a repo is executed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from huggingface_hub import ModelHubMixin, snapshot_download

from genre_hf.card import REPORT_FILES, TAGS, render_card
from genre_hf.config import PROJECT_URL, GenreConfig
from genre_hf.predictor import MODEL_FILES, GenrePredictor

REPO_FILES = [*MODEL_FILES, *REPORT_FILES, "README.md"]


class GenreClassifier(
    GenrePredictor,
    ModelHubMixin,
    library_name="genre_hf",
    tags=TAGS,
    pipeline_tag="text-classification",
    license="other",
    repo_url=PROJECT_URL,
):
    """Poster CNN, overview LSTM and fusion model behind one `predict`.

    >>> clf = GenreClassifier.from_pretrained("user/imdb-genres")  # or a local folder
    >>> clf.predict(poster="poster.jpg", overview="A retired hitman seeks revenge.")
    """

    def __init__(
        self,
        config: GenreConfig,
        vocabulary: list[str],
        calibration: dict | None = None,
        models=None,
        files_dir: str | Path | None = None,
    ):
        super().__init__(config, vocabulary, calibration, models)
        # Where the training reports and plots of this model live (copied along when saved).
        self.files_dir = Path(files_dir) if files_dir else None

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        self.save(save_directory)
        if self.files_dir and self.files_dir.resolve() != save_directory.resolve():
            for name in REPORT_FILES:
                if (self.files_dir / name).is_file():
                    shutil.copy2(self.files_dir / name, save_directory / name)
        render_card(save_directory, self.config).save(save_directory / "README.md")

    def generate_model_card(self, *args, **kwargs):
        return render_card(self.files_dir or Path("."), self.config)

    @classmethod
    def _from_pretrained(
        cls, *, model_id, revision, cache_dir, force_download, local_files_only, token, config=None, **kwargs
    ):
        # `config` as decoded by the mixin is ignored: `load` re-reads it with the format check.
        folder = Path(model_id)
        if not folder.is_dir():
            folder = Path(
                snapshot_download(
                    repo_id=model_id,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    local_files_only=local_files_only,
                    token=token,
                    allow_patterns=REPO_FILES,
                )
            )
        return cls.load(folder, files_dir=folder, **kwargs)
