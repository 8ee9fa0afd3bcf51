"""Publishing the app as a Hugging Face Space that serves a model repo: `genre-hf publish-space`.

Everything the Space needs comes from the installed package itself (its modules and templates, and
the exact versions of its dependencies that are installed here), so publishing works from a pip
install as well as from a checkout.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, SpaceCard, SpaceCardData, constants

from genre_hf import hub_calls
from genre_hf.app.page import SPACE_TITLE
from genre_hf.config import PROJECT_URL
from genre_hf.hub.lookup import SPACE_CONFIG

SPACE_DESCRIPTION = "Genres from a movie poster, its plot, or both"
SPACE_EXTRAS = ("app", "pretrained")  # the Space serves either model family
SPACE_PROXIES = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"  # private networks: where a Space's proxy connects from
APP_PY = f'''"""The genre_hf Space: serves the model named in space_config.json (or $GENRE_HF_MODEL)."""

import os

from genre_hf.cli import entry_point

# Visitors reach a Space through the Hub's proxy, which connects from a private network and names the
# visitor in X-Forwarded-For: believe it from there, so upload limits are per visitor (a Space
# variable GENRE_HF_TRUSTED_PROXIES overrides this).
os.environ.setdefault("GENRE_HF_TRUSTED_PROXIES", "{SPACE_PROXIES}")
entry_point(["app"])
'''


def space_card(model_repo_ids: list[str]) -> SpaceCard:
    import gradio as gr

    data = SpaceCardData(
        title=SPACE_TITLE,
        emoji="🎬",
        colorFrom="indigo",
        colorTo="pink",
        sdk="gradio",
        sdk_version=gr.__version__,
        python_version="3.11",
        app_file="app.py",
        models=list(model_repo_ids),
        license="other",
        short_description=SPACE_DESCRIPTION,
        pinned=False,
    )
    links = ", ".join(f"[{repo}]({constants.ENDPOINT}/{repo})" for repo in model_repo_ids)
    body = (
        f"# {SPACE_TITLE}\n\nCompare what a poster model, an overview model and a fusion of both say about a "
        f"movie's genres. The models ({links}) are named in `{SPACE_CONFIG}` (the `GENRE_HF_MODEL` variable "
        f"overrides it); with more than one, visitors switch between the model families. Made with "
        f"[genre_hf]({PROJECT_URL}); research and educational use only.\n"
    )
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def space_requirements() -> str:
    """genre_hf's dependencies for the Space, pinned to the versions installed (and so tested) here."""
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires("genre_hf") or []
    except metadata.PackageNotFoundError:
        raise ValueError("genre_hf is not installed: `pip install .` (or `pip install -e .`) before publishing") from None
    pins = []
    for line in declared:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker and not any(marker.evaluate({"extra": extra}) for extra in SPACE_EXTRAS):
            continue
        pins.append(f"{requirement.name}=={metadata.version(requirement.name)}")
    return "\n".join(sorted(set(pins), key=str.lower)) + "\n"


def space_files(model_repo_ids: list[str]) -> dict[str, bytes]:
    """Every file of the Space, by its path in the repo: the app, the package, requirements, card."""
    package = Path(__file__).resolve().parents[1]  # the genre_hf package, every subpackage included
    files = {
        "app.py": APP_PY.encode(),
        "requirements.txt": space_requirements().encode(),
        "README.md": str(space_card(model_repo_ids)).encode(),
        SPACE_CONFIG: (json.dumps({"models": list(model_repo_ids)}, indent=2) + "\n").encode(),
    }
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".md") and "__pycache__" not in path.parts:
            files[f"genre_hf/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    return files


def publish_space(space_id: str, model_repo_ids: str | list[str], token: str | None = None, private: bool = False) -> str:
    """Create (or update) a Gradio Space serving the model repos (one per family; the first is shown
    first); returns the Space's URL. `private` applies when the Space is created.

    One commit uploads the app, the package and the Space's README and requirements, and removes
    package files that no longer exist, so a re-publish never leaves stale code behind.
    """
    model_repo_ids = [model_repo_ids] if isinstance(model_repo_ids, str) else list(model_repo_ids)
    files = space_files(model_repo_ids)  # everything local first: nothing is created if this fails
    with hub_calls.call(f"publication of the Space {space_id}"):
        return _publish(HfApi(token=token), space_id, model_repo_ids, files, private)


def _publish(api: HfApi, space_id: str, model_repo_ids: list[str], files: dict[str, bytes], private: bool) -> str:
    for repo_id in model_repo_ids:
        if not api.repo_exists(repo_id):
            raise ValueError(f"model repo {repo_id} not found on {api.endpoint}: push the model first")
    url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    stale = [
        path for path in api.list_repo_files(url.repo_id, repo_type="space")
        if path.startswith("genre_hf/") and path not in files
    ]
    api.create_commit(
        url.repo_id,
        repo_type="space",
        operations=[CommitOperationAdd(path, data) for path, data in files.items()]
        + [CommitOperationDelete(path) for path in stale],
        commit_message=f"Publish the genre_hf app for {', '.join(model_repo_ids)}",
    )
    return str(url)
