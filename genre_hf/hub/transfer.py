"""Model folders to and from the Hub: download through the Hub cache, upload in one commit.

A download fetches only the model's files (`folder.REPO_FILES`) into the usual Hub cache, so a
restarted app finds them there, and checks each against the hash the Hub gave. An upload sends a
folder that saved completely, in one commit, and deletes a repo it created if the upload fails, so
a failed push leaves no empty repo behind; when the Hub cannot be reached to delete it, the repo is
noted and deleted (if still empty) by the next upload. Every Hub call is bounded (`hub_calls`:
timeouts, a deadline, a floor on the pace of an answer), so a Hub that stops answering, or trickles,
is an error, not a hang; and no file is downloaded that is larger than a model folder's file of its
name may be (`folder.MAX_BYTES`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from genre_hf import hub_calls, reading, staging
from genre_hf.hub.folder import MAX_BYTES, REPO_FILES, FolderError
from genre_hf.modeling.presets import unreachable

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DELETE_TRIES = 3  # a repo an upload created is deleted after a failure: tries, 1, 2 and 4 s apart
MAX_PENDING_BYTES = 2**20  # the note of repos left to delete


def check_repo_id(source: str) -> None:
    """A path that does not exist is said so at once, not sent to the Hub as a repo id."""
    looks_like_path = source.startswith((".", "/", "~")) or "\\" in source or Path(source).suffix in (".h5", ".json")
    if looks_like_path or not REPO_ID.match(source):
        raise FolderError(f"no model folder at {source} (and it is not a Hub repo id of the form user/name)")


def download(repo_id: str, revision=None, cache_dir=None, force_download: bool = False, local_files_only: bool = False, token=None) -> Path:
    """The repo's model files in the Hub cache, or a FolderError that says why not."""
    check_repo_id(repo_id)
    try:
        with hub_calls.call(f"download of {repo_id}"):
            if not local_files_only and not constants.HF_HUB_OFFLINE:
                _check_sizes(HfApi(token=token), repo_id, revision)
            folder = Path(
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
        why, fix = unreachable(f"the Hub repo {repo_id}")
        raise FolderError(f"no model folder at {repo_id}, and {why}: {fix}, or name a local model folder (--model FOLDER or "
                          "$GENRE_HF_MODEL)") from None
    verify(folder)
    return folder


def _check_sizes(api: HfApi, repo_id: str, revision) -> None:
    """Before anything is downloaded: no model file of the repo is larger than a file of its name may be
    (`folder.MAX_BYTES`), so a hostile repo cannot fill the disk or the memory that reads it."""
    import httpx2

    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise
    except (HfHubHTTPError, httpx2.ConnectError):
        return  # no listing (an error, or no Hub answering): the download says what is wrong, or finds the files in the cache
    for sibling in info.siblings or []:
        limit = MAX_BYTES.get(sibling.rfilename)
        if limit is not None and sibling.size is not None and sibling.size > limit:
            raise FolderError(f"{sibling.rfilename} of the Hub repo {repo_id} is {sibling.size / 2**20:,.1f} MB, more than the "
                              f"{limit / 2**20:,.1f} MB it may take: not downloaded")


def verify(snapshot: Path) -> None:
    """Every file of a Hub cache snapshot is what the Hub said it is: the cache names each blob by the
    hash the Hub sent for it (sha256 for an LFS file, the git blob sha1 for others), so each file is
    hashed and compared. A blob that does not match is removed (the next try downloads it again)."""
    for path in sorted(snapshot.iterdir()):
        blob = path.resolve()
        expected = blob.name
        if not path.is_symlink() or len(expected) not in (40, 64) or not re.fullmatch(r"[0-9a-f]+", expected):
            continue  # not a cache blob (a plain copy): nothing to compare with
        if _blob_hash(blob, git=len(expected) == 40) != expected:
            blob.unlink(missing_ok=True)
            raise FolderError(f"{path.name} from the Hub does not match the hash the Hub gave for it (the download is damaged or "
                              "was changed on the way): it was removed from the cache; try again")


def _blob_hash(path: Path, git: bool) -> str:
    """The hash the Hub gives for a file: git's blob sha1 (small files), else the LFS sha256."""
    header = f"blob {path.stat().st_size}\0".encode()
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, (lambda: hashlib.sha1(header)) if git else "sha256").hexdigest()


def full_repo_id(api: HfApi, repo_id: str) -> str:
    """`repo_id` with its namespace: the Hub puts a bare name under the token's account."""
    if "/" in repo_id:
        return repo_id
    with hub_calls.call("look-up of the token's account"):
        name = api.whoami()["name"]
    if not isinstance(name, str) or not REPO_ID.match(f"{name}/{repo_id}"):
        raise hub_calls.HubAnswerError("the Hub's answer to the look-up of the token's account is not an account name")
    return f"{name}/{repo_id}"


def upload_folder(api: HfApi, folder: Path, repo_id: str, *, private: bool | None = None, commit_message: str, branch: str | None = None) -> str:
    """Create the repo if needed and upload `folder` in one commit; a repo this call created is
    deleted again if the upload fails. Returns the commit's URL."""
    with hub_calls.call(f"upload to {repo_id}"):
        _delete_noted(api)
        existed = api.repo_exists(repo_id)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    try:
        with hub_calls.call(f"upload to {repo_id}"):
            commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=branch)
    except BaseException as error:
        if not existed and not _delete_if_empty(api, repo_id):
            _note(api, repo_id)
            raise ConnectionError(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}; the empty repo {repo_id} "
                               "it created could not be deleted (the Hub did not answer): the next push deletes it, or delete it "
                               f"at {api.endpoint}/{repo_id}") from error
        raise
    return str(commit)


def _delete_if_empty(api: HfApi, repo_id: str) -> bool:
    """Delete a repo an upload created, if it holds nothing of anyone's (tried DELETE_TRIES times); True once it is gone."""
    for attempt in range(DELETE_TRIES):
        try:
            with hub_calls.call(f"deletion of {repo_id}"):
                return _delete_once(api, repo_id)
        except Exception:  # noqa: BLE001 - the Hub did not answer this time
            time.sleep(2**attempt)
    return False


def _delete_once(api: HfApi, repo_id: str) -> bool:
    if not api.repo_exists(repo_id):
        return True
    if set(api.list_repo_files(repo_id)) <= {".gitattributes"}:
        api.delete_repo(repo_id)
    return True  # gone; or something was committed to it since: it is not ours to delete


def _pending_file() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "genre_hf" / "pending-deletes.json"


def _note(api: HfApi, repo_id: str) -> None:
    _write_pending([*_pending(), {"endpoint": api.endpoint, "repo_id": repo_id}])


def _pending() -> list[dict]:
    try:
        value = reading.read_json(_pending_file(), MAX_PENDING_BYTES, kind=list)
    except reading.ReadError:
        return []
    return [entry for entry in value if isinstance(entry, dict) and {"endpoint", "repo_id"} <= set(entry)]


def _write_pending(pending: list[dict]) -> None:
    path = _pending_file()
    with staging.file(path, ours=lambda found: True, what="note of repos to delete") as partial:  # our own file in HF_HOME
        partial.write_text(json.dumps(pending))


def _delete_noted(api: HfApi) -> None:
    """Delete (if still empty) the repos earlier failed uploads to this Hub created and could not delete."""
    pending = _pending()
    left = [entry for entry in pending if entry["endpoint"] != api.endpoint or not _delete_if_empty(api, entry["repo_id"])]
    if len(left) != len(pending):
        _write_pending(left)
