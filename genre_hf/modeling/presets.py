"""Pretrained KerasHub presets, resolved at a pinned revision and weights hash (for the text and the
image encoder alike; the backbones themselves run in `encoders/keras_hub_text.py` and `keras_hub_image.py`).

A preset is `hf://owner/name` (downloaded through the Hub cache at the commit a model was trained
with, so a restarted app finds it there and a changed upstream repo cannot silently change the
model) or a local preset folder (pinned by the sha256 of its weights). The backbone embeds each
overview (or poster) once, before the models: training caches the embeddings and never updates the
backbone, so its weights are never copied into a model folder. A preset pinned at a commit is
resolved once per process (and per Hub endpoint, cache and mirror), so predictions never ask the Hub
again; its latest commit (what training pins) is asked for each time.

A machine without the Hub can point $GENRE_HF_PRESET_MIRROR at a folder holding `<name>/`, a copy
of the Hub repo `owner/name`'s files: it is used in place of the download (its weights checked
against the hash a model was trained with, as always), and the model keeps the Hub id.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

HF_PREFIX = "hf://"
# Not the repo's ONNX / OpenVINO / PyTorch copies; model.weights.h5 is a KerasHub-format preset's weights.
PRESET_FILES = ["*.json", "*.txt", "*.safetensors", "*.model", "model.weights.h5"]
WEIGHT_FILES = ("model.safetensors", "model.weights.h5")
MAX_JSON_BYTES = 64 * 2**20  # a preset's largest JSON, a BPE tokenizer.json, takes a few MB
_RESOLVED: dict[tuple, tuple[Path, str, str]] = {}  # (preset, where it may come from) -> (folder, revision, sha256)


def resolve(preset: str, revision: str = "", sha256: str = "", role: str = "text encoder") -> tuple[Path, str, str]:
    """(local preset folder, Hub commit or "", sha256 of its weights).

    Given the revision and weights hash a model was trained with, returns exactly those files or
    raises a ValueError (naming the preset by its `role`): a preset whose weights changed is
    refused, never silently used.
    """
    from huggingface_hub import constants

    where = (preset, os.environ.get("GENRE_HF_PRESET_MIRROR"), constants.ENDPOINT, constants.HF_HUB_CACHE)
    known = _RESOLVED.get(where)
    if revision and known and known[1] == revision and known[0].is_dir():  # a pinned commit does not change: asked once
        folder, revision, found = known
    else:  # the latest commit (training) is asked for every time: the repo may have moved on
        folder, revision = _locate(preset, revision, role)
        check_files(folder, role)
        found = weights_hash(folder, role)
        if revision:
            _RESOLVED[where] = (folder, revision, found)
    if sha256 and found != sha256:
        raise ValueError(
            f"the {role} {preset} has weights with sha256 {found[:12]}..., but this model was trained with "
            f"{sha256[:12]}...: it needs the encoder it was trained with"
        )
    return folder, revision, found


def _locate(preset: str, revision: str, role: str) -> tuple[Path, str]:
    """(folder, revision): the mirror's copy, the Hub's snapshot at `revision`, or a local folder."""
    mirrored = _mirror(preset)
    if mirrored is not None:
        return mirrored, ""
    if preset.startswith(HF_PREFIX):
        return _from_hub(preset, revision, role)
    folder = Path(preset).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{role} preset {preset!r}: expected hf://owner/name or a local KerasHub/transformers preset folder")
    return folder, ""


def _mirror(preset: str) -> Path | None:
    """The local copy of a Hub preset under $GENRE_HF_PRESET_MIRROR, if it is set and has one."""
    mirror = os.environ.get("GENRE_HF_PRESET_MIRROR")
    if not mirror or not preset.startswith(HF_PREFIX):
        return None
    folder = Path(mirror).expanduser() / preset.rstrip("/").rsplit("/", 1)[-1]
    return folder if folder.is_dir() else None


def _from_hub(preset: str, revision: str, role: str) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from genre_hf import hub_calls

    repo_id = preset.removeprefix(HF_PREFIX)
    try:
        with hub_calls.call(f"download of the {role} {preset}"):
            folder = Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=PRESET_FILES))
    except RevisionNotFoundError:
        raise ValueError(f"{preset} has no revision {revision}, the one this model was trained with") from None
    except RepositoryNotFoundError:
        raise ValueError(f"no Hub repo {repo_id} for the {role} {preset} (or it is private: set HF_TOKEN)") from None
    except LocalEntryNotFoundError:
        raise ValueError(_unreachable_preset(preset, revision, role)) from None
    return folder, folder.name  # the snapshot folder is named by its commit


def unreachable(what: str) -> tuple[str, str]:
    """(why `what`, a Hub repo's files, cannot be had here, the first fix): the Hub cache lacks it and
    either HF_HUB_OFFLINE keeps the download from happening or the Hub did not answer."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return (f"{what} is not in the Hub cache, and HF_HUB_OFFLINE=1 keeps it from being downloaded",
                "unset HF_HUB_OFFLINE to download it once")
    return f"{what} is neither in the Hub cache nor reachable at {constants.ENDPOINT}", "connect to the Hub"


def _unreachable_preset(preset: str, revision: str, role: str) -> str:
    """The one line that says why the preset cannot be had and what fixes it: the Hub, or a local copy
    of its files under $GENRE_HF_PRESET_MIRROR."""
    name = preset.rstrip("/").rsplit("/", 1)[-1]
    why, fix = unreachable(f"the {role} {preset} (revision {revision[:12] if revision else 'main'})")
    mirror = os.environ.get("GENRE_HF_PRESET_MIRROR")
    copy = f"a copy of its Hub files in $GENRE_HF_PRESET_MIRROR/{name}" + (f" ({mirror} has no {name}/)" if mirror else "")
    return f"{why}: {fix}, or put {copy}"


def check_files(folder: Path, role: str = "text encoder") -> None:
    """Every JSON file of a preset read as a folder's are (`reading`: a size cap, strictly) before
    KerasHub parses it: a preset a model names is anyone's repo."""
    from genre_hf import reading

    for path in sorted(folder.glob("*.json")):
        try:
            reading.read_json(path, MAX_JSON_BYTES, kind=None)
        except reading.ReadError as error:
            raise ValueError(f"the {role} preset: {error}") from None


def weights_hash(folder: Path, role: str = "text encoder") -> str:
    """sha256 of the preset's weights file. In the Hub cache it is the blob's name (the Hub's LFS
    hash), so nothing is read; a local folder's file is hashed once per process."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_symlink() and len(path.resolve().name) == 64:
            return path.resolve().name
        if path.is_file():
            return _file_hash(path.resolve(), path.stat().st_size, path.stat().st_mtime_ns)
    raise ValueError(f"no weights ({' or '.join(WEIGHT_FILES)}) in the {role} preset {folder}")


@functools.lru_cache(maxsize=8)
def _file_hash(path: Path, size: int, mtime: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
