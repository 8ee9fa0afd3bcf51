"""Model folders to and from the Hub: download through the Hub cache, upload in one commit.

A download fetches only the model's files (`folder.REPO_FILES`) into the usual Hub cache, so a
restarted app finds them there. An upload sends a folder that saved completely, in one commit, and
deletes a repo it created if the upload fails, so a failed push never leaves an empty repo behind.
"""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

from genre_hf.hub.folder import REPO_FILES, FolderError

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_repo_id(source: str) -> None:
    """A path that does not exist is said so at once, not sent to the Hub as a repo id."""
    looks_like_path = source.startswith((".", "/", "~")) or "\\" in source or Path(source).suffix in (".h5", ".json")
    if looks_like_path or not REPO_ID.match(source):
        raise FolderError(f"no model folder at {source} (and it is not a Hub repo id of the form user/name)")


def download(repo_id: str, revision=None, cache_dir=None, force_download: bool = False, local_files_only: bool = False, token=None) -> Path:
    """The repo's model files in the Hub cache, or a FolderError that says why not."""
    check_repo_id(repo_id)
    try:
        return Path(
            snapshot_download(
                repo_id=repo_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token, allow_patterns=list(REPO_FILES),
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


def full_repo_id(api: HfApi, repo_id: str) -> str:
    """`repo_id` with its namespace: the Hub puts a bare name under the token's account."""
    return repo_id if "/" in repo_id else f"{api.whoami()['name']}/{repo_id}"


def upload_folder(api: HfApi, folder: Path, repo_id: str, *, private: bool | None = None, commit_message: str, branch: str | None = None) -> str:
    """Create the repo if needed and upload `folder` in one commit; a repo this call created is
    deleted again if the upload fails. Returns the commit's URL."""
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
