"""`GenreClassifier`: the predictor with the Hub's `save_pretrained` / `from_pretrained` / `push_to_hub`.

Built on `huggingface_hub.ModelHubMixin`. From a repo id it downloads only the files it needs into
the usual Hub cache (a restarted Space finds them there), then rebuilds the architectures from the
config and loads weights only: nothing in a repo is executed. Saving builds the whole folder in a
temporary one first, and a push uploads only a folder that saved completely.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi, ModelHubMixin, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

from genre_hf.config import PROJECT_URL, GenreConfig
from genre_hf.hub.card import REPORT_FILES, TAGS, render_card
from genre_hf.hub.folder import MODEL_FILES, FolderError, writing
from genre_hf.inference.predictor import GenrePredictor

REPO_FILES = [*MODEL_FILES, *REPORT_FILES, "README.md"]
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class GenreClassifier(
    GenrePredictor,
    ModelHubMixin,
    library_name="genre_hf",
    tags=TAGS,
    pipeline_tag="text-classification",
    license="other",
    repo_url=PROJECT_URL,
):
    """Poster model, overview model and fusion model behind one `predict`.

    >>> clf = GenreClassifier.from_pretrained("user/imdb-genres")  # or a local folder
    >>> clf.predict(poster="poster.jpg", overview="A retired hitman seeks revenge.")
    """

    def __init__(
        self,
        config: GenreConfig,
        vocabulary: list[str],
        calibration: dict | None = None,
        network=None,
        files_dir: str | Path | None = None,
    ):
        super().__init__(config, vocabulary, calibration, network)
        # Where the training reports and plots of this model live (copied along when saved).
        self.files_dir = Path(files_dir) if files_dir else None

    def save_pretrained(self, save_directory, *, repo_id: str | None = None, push_to_hub: bool = False, **push_kwargs):
        """Write the model folder with its reports and card; it appears (or its files are replaced)
        only once everything is written. The card's usage snippet loads `repo_id` when given, else
        this folder."""
        with writing(save_directory) as staging:
            self._save_pretrained(staging)
            render_card(staging, self.config, repo_id=repo_id, location=str(save_directory)).save(staging / "README.md")
        if push_to_hub:
            return self.push_to_hub(repo_id or Path(save_directory).name, **push_kwargs)
        return None

    def _save_pretrained(self, save_directory: Path) -> None:
        self.save(save_directory)
        if self.files_dir and self.files_dir.resolve() != Path(save_directory).resolve():
            for name in REPORT_FILES:
                if (self.files_dir / name).is_file():
                    shutil.copy2(self.files_dir / name, Path(save_directory) / name)

    def generate_model_card(self, repo_id: str | None = None, **kwargs):
        return render_card(self.files_dir or Path("."), self.config, repo_id=repo_id)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload genre_hf model", branch: str | None = None, **kwargs) -> str:
        """Save to a temporary folder, then create the repo (if needed) and upload it in one commit.

        Nothing reaches the Hub unless the folder saved completely, and a repo this call created is
        deleted again if the upload fails, so a failed push never leaves an empty repo behind.
        """
        api = HfApi(token=token)
        if "/" not in repo_id:  # the Hub puts a bare name under the token's account: the card names the full id
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            self.save_pretrained(folder, repo_id=repo_id)
            existed = api.repo_exists(repo_id)
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            try:
                commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=branch)
            except BaseException:
                if not existed:
                    try:
                        api.delete_repo(repo_id)
                    except HfHubHTTPError:
                        pass  # the upload's own error is the one to report
                raise
        return str(commit)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *, revision: str | None = None, cache_dir=None, force_download: bool = False,
        local_files_only: bool = False, token: str | None = None, **kwargs,
    ):
        """Load from a local folder, or from a Hub repo id (`user/name`) through the Hub cache.

        Unlike the mixin's default, config.json is read only by `load`, which checks every file, so
        a damaged folder gets an error that names the file.
        """
        return cls._from_pretrained(
            model_id=str(pretrained_model_name_or_path), revision=revision, cache_dir=cache_dir,
            force_download=force_download, local_files_only=local_files_only, token=token, **kwargs,
        )

    @classmethod
    def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, local_files_only, token, **kwargs):
        folder = Path(model_id).expanduser()
        if not folder.is_dir():
            _check_repo_id(model_id)
            folder = _download(model_id, revision, cache_dir, force_download, local_files_only, token)
        return cls.load(folder, files_dir=folder, **kwargs)


def _check_repo_id(source: str) -> None:
    """A path that does not exist is said so at once, not sent to the Hub as a repo id."""
    looks_like_path = source.startswith((".", "/", "~")) or "\\" in source or Path(source).suffix in (".h5", ".json")
    if looks_like_path or not REPO_ID.match(source):
        raise FolderError(f"no model folder at {source} (and it is not a Hub repo id of the form user/name)")


def _download(repo_id, revision, cache_dir, force_download, local_files_only, token) -> Path:
    try:
        return Path(
            snapshot_download(
                repo_id=repo_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token, allow_patterns=REPO_FILES,
            )
        )
    except RepositoryNotFoundError:
        raise FolderError(
            f"no model folder at {repo_id}, and no Hub repo {repo_id} (or it is private: pass token= or set HF_TOKEN)"
        ) from None
    except LocalEntryNotFoundError:
        raise FolderError(
            f"no model folder at {repo_id}, and the Hub repo {repo_id} is neither reachable nor in the cache "
            "(offline, or HF_HUB_OFFLINE=1)"
        ) from None
