"""Model folders to and from the Hub: download through the Hub cache, upload in one commit.

A download fetches only the model's files (`folder.REPO_FILES`) into the usual Hub cache, so a
restarted app finds them there, and checks each against the hash the Hub gave. An upload sends a
folder that saved completely, in one commit, and deletes a repo it created if the upload fails, so
a failed push leaves no empty repo behind; when the Hub cannot be reached to delete it, the repo is
noted and deleted (if still empty) by the next upload. Every Hub call has a connect and a read
timeout: GENRE_HF_HUB_CONNECT_TIMEOUT (10 s) and GENRE_HF_HUB_TIMEOUT (60 s), so a Hub that stops
answering is an error, not a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

from genre_hf.hub.folder import REPO_FILES, FolderError
from genre_hf.modeling.presets import unreachable

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 60.0  # seconds, unless GENRE_HF_HUB_CONNECT_TIMEOUT / GENRE_HF_HUB_TIMEOUT say otherwise
DELETE_TRIES = 3  # a repo an upload created is deleted after a failure: tries, 1, 2 and 4 s apart
_timeouts_set = False


def use_timeouts() -> None:
    """Give every request of huggingface_hub's shared HTTP client a connect and a read timeout.

    The client has none, and many calls pass `timeout=None` per request, which overrides a client
    default; so the timeouts are set where the request reaches the network (the transport), for
    any request that has none of its own.
    """
    global _timeouts_set
    if _timeouts_set:
        return
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http

    connect, read = (_seconds(name, default) for name, default in (("GENRE_HF_HUB_CONNECT_TIMEOUT", CONNECT_TIMEOUT),
                                                                    ("GENRE_HF_HUB_TIMEOUT", READ_TIMEOUT)))
    defaults = {"connect": connect, "read": read, "write": read, "pool": read}

    class Timeouts(httpx2.HTTPTransport):
        def handle_request(self, request):
            given = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {key: given.get(key) if given.get(key) is not None else value for key, value in defaults.items()}
            return super().handle_request(request)

    def client():
        with _http.default_client_factory() as default:  # huggingface_hub's own client, for its request hooks
            hooks = default.event_hooks
        return httpx2.Client(event_hooks=hooks, follow_redirects=True, timeout=httpx2.Timeout(read, connect=connect), transport=Timeouts())

    set_client_factory(client)
    _timeouts_set = True


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text[:20]!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {text[:20]}")
    return value


def check_repo_id(source: str) -> None:
    """A path that does not exist is said so at once, not sent to the Hub as a repo id."""
    looks_like_path = source.startswith((".", "/", "~")) or "\\" in source or Path(source).suffix in (".h5", ".json")
    if looks_like_path or not REPO_ID.match(source):
        raise FolderError(f"no model folder at {source} (and it is not a Hub repo id of the form user/name)")


def download(repo_id: str, revision=None, cache_dir=None, force_download: bool = False, local_files_only: bool = False, token=None) -> Path:
    """The repo's model files in the Hub cache, or a FolderError that says why not."""
    check_repo_id(repo_id)
    use_timeouts()
    try:
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
    return repo_id if "/" in repo_id else f"{api.whoami()['name']}/{repo_id}"


def upload_folder(api: HfApi, folder: Path, repo_id: str, *, private: bool | None = None, commit_message: str, branch: str | None = None) -> str:
    """Create the repo if needed and upload `folder` in one commit; a repo this call created is
    deleted again if the upload fails. Returns the commit's URL."""
    use_timeouts()
    _delete_noted(api)
    existed = api.repo_exists(repo_id)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    try:
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
            if not api.repo_exists(repo_id):
                return True
            if set(api.list_repo_files(repo_id)) <= {".gitattributes"}:
                api.delete_repo(repo_id)
                return True
            return True  # something was committed to it since: it is not ours to delete
        except Exception:  # noqa: BLE001 - the Hub did not answer this time
            time.sleep(2**attempt)
    return False


def _pending_file() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "genre_hf" / "pending-deletes.json"


def _note(api: HfApi, repo_id: str) -> None:
    path = _pending_file()
    pending = _pending()
    pending.append({"endpoint": api.endpoint, "repo_id": repo_id})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pending))


def _pending() -> list[dict]:
    try:
        value = json.loads(_pending_file().read_text())
    except (OSError, ValueError):
        return []
    return [entry for entry in value if isinstance(entry, dict) and {"endpoint", "repo_id"} <= set(entry)] if isinstance(value, list) else []


def _delete_noted(api: HfApi) -> None:
    """Delete (if still empty) the repos earlier failed uploads to this Hub created and could not delete."""
    pending = _pending()
    left = [entry for entry in pending if entry["endpoint"] != api.endpoint or not _delete_if_empty(api, entry["repo_id"])]
    if len(left) != len(pending):
        _pending_file().write_text(json.dumps(left))
